import { reexecSelf } from './process-addon.js';
import { PREFETCH_THREADPOOL_SIZE } from './threadpool-size.cjs';

export { PREFETCH_THREADPOOL_SIZE };

/**
 * libuv sizes its pool once, at its first job, from UV_THREADPOOL_SIZE, and Node's module loader queues jobs
 * before the CLI's first line runs: a prefetch started without the variable (as `node dist/cli/main.js`; the
 * `bucketfs` command sets it first) runs itself again with it (execv: same pid, descriptors and arguments). A
 * value the user set is kept. Returns when there is nothing to do or the process addon is not built; otherwise
 * does not return.
 */
export function reexecWithPrefetchThreadpool(argv: readonly string[] = process.argv, execArgv: readonly string[] = process.execArgv): void {
  if (process.env.UV_THREADPOOL_SIZE !== undefined) return;
  reexecSelf(execArgv, argv, { UV_THREADPOOL_SIZE: String(PREFETCH_THREADPOOL_SIZE) });
}
