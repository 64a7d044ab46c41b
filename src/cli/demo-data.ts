import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export const DEMO_BUCKET = 'demo';
export const DEMO_BIG_FILE = 'data/random-64MiB.bin';
const BIG_FILE_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = 4 * 1024 * 1024;

const SMALL_FILES: Record<string, string> = {
  'README.txt': 'This bucket is served by the embedded local server of bucketfs and mounted with FUSE.\nEvery file here is an object; every folder a prefix.\n',
  'hello.txt': 'hello from bucketfs\n',
  'empty.txt': '',
  'nested/a/b/c/deep.txt': 'a file four folders down\n',
  'with spaces/a file with spaces.txt': 'names may contain spaces\n',
  'unicode/ünïcødé 名前 🚀.txt': 'and any UTF-8\n',
  'csv/table.csv': 'id,name\n1,alpha\n2,beta\n3,gamma\n',
};

/** `~/.cache/bucketfs/demo-data` (or under $XDG_CACHE_HOME): the server's data folder. */
export function demoDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache'), 'bucketfs', 'demo-data');
}

async function exists(path: string, size?: number): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && (size === undefined || info.size === size);
}

/** Random bytes written in chunks to a temp name, then renamed: an interrupted run never leaves a short file. */
async function writeBigFile(path: string): Promise<void> {
  const temporary = `${path}.partial`;
  const file = await open(temporary, 'w');
  try {
    for (let written = 0; written < BIG_FILE_BYTES; written += CHUNK_BYTES) await file.write(randomBytes(CHUNK_BYTES));
  } finally {
    await file.close();
  }
  await rename(temporary, path);
}

/** Creates the sample bucket once; later runs keep what is there. Returns the bucket's folder. */
export async function ensureDemoData(dataDir: string): Promise<string> {
  const bucketDir = join(dataDir, DEMO_BUCKET);
  for (const [name, content] of Object.entries(SMALL_FILES)) {
    const path = join(bucketDir, name);
    if (await exists(path)) continue;
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
  const big = join(bucketDir, DEMO_BIG_FILE);
  if (!(await exists(big, BIG_FILE_BYTES))) {
    await mkdir(dirname(big), { recursive: true });
    await writeBigFile(big);
  }
  return bucketDir;
}

export function md5OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('md5');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}
