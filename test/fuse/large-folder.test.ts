import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOUNT_ENGINES } from '../../src/fuse/mount.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { cleanupMounts, daemonPidFrom, makeMountpoint } from '../helpers/mount.js';
import { run, runCli } from '../helpers/processes.js';
import { withTempDir } from '../helpers/server.js';

/*
 * A folder of 20,000 objects listed through the kernel: readdir pages through the listing and its
 * entries answer the `stat` of every file that `ls -l` makes. Only child processes touch the mount.
 */
const OBJECT_COUNT = 20_000;
const nameOf = (i: number): string => `shard-${String(i).padStart(6, '0')}.bin`;
const sizeOf = (i: number): number => i % 97;

async function writeFolder(folder: string): Promise<void> {
  await mkdir(folder, { recursive: true });
  const batchSize = 500;
  for (let start = 0; start < OBJECT_COUNT; start += batchSize) {
    const batch = Array.from({ length: Math.min(batchSize, OBJECT_COUNT - start) }, (_, k) => start + k);
    await Promise.all(batch.map((i) => writeFile(join(folder, nameOf(i)), Buffer.alloc(sizeOf(i), 'x'))));
  }
}

for (const engine of MOUNT_ENGINES) {
  describe(`a folder of ${OBJECT_COUNT} objects (${engine})`, () => {
    let root: { path: string; remove: () => Promise<void> };
    let server: RunningServer | undefined;
    let mountpoint = '';

    beforeAll(async () => {
      root = await withTempDir('large');
      await writeFolder(join(root.path, 'data', 'big', 'many'));
      server = await startServer({ dataDir: join(root.path, 'data'), host: '127.0.0.1', port: 0 });
      mountpoint = makeMountpoint(engine);
      const mounted = await runCli(['mount', '--engine', engine, 'ais://big', mountpoint, '--endpoint', server.url]);
      daemonPidFrom(mounted.stderr);
      expect(mounted.code, mounted.stderr).toBe(0);
    }, 180_000);

    afterAll(async () => {
      cleanupMounts();
      await server?.close();
      await root?.remove();
    });

    it('lists every object with its exact size in `ls -l`', async () => {
      const listing = await run('ls', ['-l', '--time-style=+', join(mountpoint, 'many')], { timeoutMs: 120_000 });
      expect(listing.code, listing.stderr).toBe(0);
      const rows = listing.stdout.trim().split('\n').filter((row) => !row.startsWith('total'));
      expect(rows).toHaveLength(OBJECT_COUNT);
      const sizes = new Map(rows.map((row) => {
        const fields = row.trim().split(/\s+/);
        return [fields.at(-1) ?? '', Number(fields[4])] as const;
      }));
      for (const i of [0, 1, 96, 9_999, OBJECT_COUNT - 1]) expect(sizes.get(nameOf(i))).toBe(sizeOf(i));
      expect([...sizes.keys()].every((name) => /^shard-\d{6}\.bin$/.test(name))).toBe(true);
    }, 180_000);

    it('reads a file found by the listing', async () => {
      const cat = await run('cat', [join(mountpoint, 'many', nameOf(96))]);
      expect(cat.code, cat.stderr).toBe(0);
      expect(cat.stdout).toBe('x'.repeat(sizeOf(96)));
    });
  });
}
