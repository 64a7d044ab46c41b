import { reexecSelf } from './process-addon.js';

/**
 * Threads of libuv's pool a prefetch runs with. Each block file is one job on that pool (`native/cache_fill.c`),
 * and a large block is written past the page cache, so a job holds its thread until the disk has the block:
 * the pool's size is the number of writes the disk has in flight, and a disk of this kind takes more of them
 * at once at the same CPU (the measurement is in the history of this file's commit).
 */
export const PREFETCH_THREADPOOL_SIZE = 16;

/**
 * libuv sizes its pool once, at its first job, from UV_THREADPOOL_SIZE, and Node's module loader queues jobs
 * before the CLI's first line runs: a prefetch started without the variable runs itself again with it (execv:
 * same pid, descriptors and arguments). A value the user set is kept. Returns when there is nothing to do or
 * the process addon is not built; otherwise does not return.
 */
export function reexecWithPrefetchThreadpool(argv: readonly string[] = process.argv, execArgv: readonly string[] = process.execArgv): void {
  if (process.env.UV_THREADPOOL_SIZE !== undefined) return;
  reexecSelf(execArgv, argv, { UV_THREADPOOL_SIZE: String(PREFETCH_THREADPOOL_SIZE) });
}
