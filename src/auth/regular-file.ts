import { constants, promises as fs, type BigIntStats } from 'node:fs';

/** Credentials and secrets are small; anything bigger is a misconfigured path, not worth reading into memory. */
export const MAX_SECRET_FILE_BYTES = 1024 * 1024;
/**
 * Longest a read of a token, headers or secret file may take. A local file answers in well under a
 * millisecond; only a stalled filesystem gets near this, and then the caller keeps what it had.
 */
export const DEFAULT_READ_TIMEOUT_MS = 5_000;

/** The path is there but is no regular file (a FIFO, a socket, a device, a folder): it is never opened for reading. */
export class NotRegularFileError extends Error {
  override readonly name = 'NotRegularFileError';
}

/** The read did not finish within its time bound; it goes on in the background and its result is dropped. */
export class ReadTimeoutError extends Error {
  override readonly name = 'ReadTimeoutError';
}

export interface RegularFileContent {
  readonly text: string;
  /** The stat of the descriptor the text was read from. */
  readonly stats: BigIntStats;
}

export interface ReadRegularFileOptions {
  readonly maxBytes?: number;
  readonly timeoutMs?: number;
}

/** O_NONBLOCK: should the path turn into a FIFO between the stat and the open, the open still returns at once. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

function kindOf(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  if (stats.isDirectory()) return 'a folder';
  if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function checkRegular(stats: BigIntStats, maxBytes: number): void {
  if (!stats.isFile()) throw new NotRegularFileError(`not a regular file (${kindOf(stats)})`);
  if (stats.size > BigInt(maxBytes)) throw new Error(`larger than ${maxBytes} bytes`);
}

async function readWithoutBlocking(path: string, maxBytes: number): Promise<RegularFileContent> {
  // stat follows symlinks, as the open does: a Kubernetes `..data` link to a regular file is fine.
  const before = await fs.stat(path, { bigint: true });
  checkRegular(before, maxBytes);
  const handle = await fs.open(path, OPEN_FLAGS);
  try {
    const stats = await handle.stat({ bigint: true });
    // Checked again on the descriptor: the path may have been swapped for something else since the stat.
    checkRegular(stats, maxBytes);
    if (stats.ino !== before.ino || stats.dev !== before.dev) throw new Error('replaced while being opened');
    // One byte more than the stat's size: a file that grew past the limit since is told from one that fits.
    const buffer = Buffer.alloc(Math.min(Number(stats.size), maxBytes) + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new Error(`larger than ${maxBytes} bytes`);
    return { text: buffer.subarray(0, length).toString('utf8'), stats };
  } finally {
    await handle.close();
  }
}

/** Paths with a call still running past its time bound: one stalled call per path at most, never a pile of them. */
const stalledPaths = new Set<string>();

/** Paths whose stat or read is still stuck past its bound: process.exit would wait for them, since it joins every I/O thread. */
export function stalledFileCalls(): string[] {
  return [...stalledPaths];
}

/**
 * Runs `work` on `path` within `timeoutMs`. Past it, rejects with ReadTimeoutError while the work goes
 * on in the background (its descriptor is still closed when it ends); until then, calls on that path
 * reject at once, so a stalled filesystem ties up one of the few I/O threads, not all of them.
 */
function bounded<T>(path: string, timeoutMs: number, work: () => Promise<T>): Promise<T> {
  if (stalledPaths.has(path)) return Promise.reject(new ReadTimeoutError(`an earlier read is still unanswered after ${timeoutMs} ms`));
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      stalledPaths.add(path);
      reject(new ReadTimeoutError(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    work()
      .finally(() => {
        clearTimeout(timer);
        stalledPaths.delete(path);
      })
      .then(resolve, reject);
  });
}

/**
 * Reads a small file that must be a regular file, and never waits on anything else: the path is
 * stat'ed first, opened non-blocking, and the descriptor stat'ed again. Bounded by `timeoutMs`.
 */
export function readRegularFile(path: string, options: ReadRegularFileOptions = {}): Promise<RegularFileContent> {
  const maxBytes = options.maxBytes ?? MAX_SECRET_FILE_BYTES;
  return bounded(path, options.timeoutMs ?? DEFAULT_READ_TIMEOUT_MS, () => readWithoutBlocking(path, maxBytes));
}

/** `stat` (following symlinks) of a watched file, bounded by `timeoutMs` as a read is. */
export function statWithin(path: string, timeoutMs: number = DEFAULT_READ_TIMEOUT_MS): Promise<BigIntStats> {
  return bounded(path, timeoutMs, () => fs.stat(path, { bigint: true }));
}
