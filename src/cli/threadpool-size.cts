/**
 * Threads of libuv's pool a prefetch runs with. Each block file is one job on that pool (`native/cache_fill.c`),
 * and a large block is written past the page cache, so a job holds its thread until the disk has the block:
 * the pool's size is the number of writes the disk has in flight, and a disk of this kind takes more of them
 * at once at the same CPU (the measurement is in the history of `prefetch-threadpool.ts`). CommonJS, so that
 * the command's entry point (`bucketfs.cts`) can read it before any module of the program loads.
 */
export const PREFETCH_THREADPOOL_SIZE = 16;
