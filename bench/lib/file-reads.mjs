// Reads through a path with plain file I/O: whole small files, first bytes, `ls -l`.
import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';

/** Whole files on `concurrency` lanes (Node's thread pool has 4 threads: keep it ≤ 4). */
export async function readWholeFiles(paths, concurrency) {
  const queue = [...paths];
  let bytes = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
        const data = await readFile(path);
        bytes += data.length; // not `bytes += (await …)`: that would lose the other lanes' counts
      }
    }),
  );
  return { files: paths.length, bytes, seconds: (performance.now() - started) / 1000 };
}

/** Milliseconds for open + read of 1 byte + close of one file. */
export async function firstByteMs(path) {
  const started = performance.now();
  const handle = await open(path, 'r');
  try {
    await handle.read(Buffer.alloc(1), 0, 1, 0);
  } finally {
    await handle.close();
  }
  return performance.now() - started;
}

/** Milliseconds for `ls -l DIR` (output discarded) and the number of lines it printed. */
export function timeLs(dir) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('ls', ['-l', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let lines = 0;
    let errors = '';
    child.stdout.on('data', (chunk) => {
      for (const byte of chunk) if (byte === 10) lines += 1;
    });
    child.stderr.on('data', (chunk) => {
      errors += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`ls -l ${dir} exited ${code}: ${errors.trim()}`));
      // The first line is "total N".
      else resolve({ ms: performance.now() - started, entries: lines - 1 });
    });
  });
}
