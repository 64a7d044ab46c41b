import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCKS_DIR_NAME } from '../../src/fs/disk-cache/block-file.js';

/** Every block file (and temporary one) under a cache dir, with its size: `blocks/<shard>/<name>` (block-file.ts). */
export async function blockFilesUnder(cacheDir: string): Promise<{ path: string; bytes: number }[]> {
  const found: { path: string; bytes: number }[] = [];
  const blocks = join(cacheDir, BLOCKS_DIR_NAME);
  for (const shard of await readdir(blocks).catch(() => [])) {
    if (shard.startsWith('.')) continue;
    for (const name of await readdir(join(blocks, shard))) {
      const path = join(blocks, shard, name);
      found.push({ path, bytes: (await stat(path)).size });
    }
  }
  return found;
}
