#!/usr/bin/env node
import { PREFETCH_THREADPOOL_SIZE } from './threadpool-size.cjs';

/*
 * The `bucketfs` command. libuv sizes its thread pool from UV_THREADPOOL_SIZE at its first job, and Node's module
 * loader queues jobs before an ES module's first line runs; this CommonJS file runs before that, so a prefetch
 * gets its pool without running itself again (`prefetch-threadpool.ts` still does so for `node main.js`).
 */
if (process.argv[2] === 'prefetch' && process.env.UV_THREADPOOL_SIZE === undefined) process.env.UV_THREADPOOL_SIZE = String(PREFETCH_THREADPOOL_SIZE);
void import('./main.js');
