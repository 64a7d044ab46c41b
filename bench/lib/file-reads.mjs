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
export async function timeLs(dir) {
  const { seconds, lines } = await timeLines('ls', ['-l', dir]);
  // The first line is "total N".
  return { ms: seconds * 1000, entries: lines - 1 };
}

/** `0m1.250000s` (the shell's `times`) → 1.25. Pure. */
function shellSeconds(text) {
  const match = /^(\d+)m([\d.]+)s$/.exec(text);
  return match ? Number(match[1]) * 60 + Number(match[2]) : undefined;
}

/** The children's user + system seconds from the two lines the shell's `times` prints last; undefined if absent. Pure. */
export function childCpuFromTimes(stderrText) {
  const lines = stderrText.trimEnd().split('\n');
  const [user, system] = (lines[lines.length - 1] ?? '').trim().split(/\s+/).map(shellSeconds);
  return user === undefined || system === undefined ? undefined : user + system;
}

/**
 * Wall seconds of `command args`, the number of lines it printed (the output itself is discarded) and the
 * command's own CPU seconds (`commandCpuSeconds`: user + system, where the kernel's work for its system calls
 * goes). Rejects with the command's last error line when it fails, and kills it after `timeoutMs`.
 */
export function timeLines(command, args, { timeoutMs = 3_600_000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // The shell's `times` reports what its child used, to stderr, after the command's own messages.
    const script = '"$0" "$@"; status=$?; times >&2; exit $status';
    const child = spawn('sh', ['-c', script, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
    let lines = 0;
    let errors = '';
    // indexOf is a native scan: a walk of a million names prints tens of MB, and this process shares the CPUs.
    child.stdout.on('data', (chunk) => {
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines += 1;
    });
    child.stderr.on('data', (chunk) => {
      errors = (errors + chunk).slice(-2000);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      const seconds = (performance.now() - started) / 1000;
      const what = `${command} ${args.join(' ')}`;
      const messages = errors.trimEnd().split('\n').slice(0, -2);
      if (signal !== null) reject(new Error(`${what} was stopped by ${signal} after ${seconds.toFixed(0)} s`));
      else if (code !== 0) reject(new Error(`${what} exited ${code}: ${messages.pop() ?? 'no message'}`));
      else resolve({ seconds, lines, commandCpuSeconds: childCpuFromTimes(errors) });
    });
  });
}
