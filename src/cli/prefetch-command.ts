import type { Command } from 'commander';
import { LOG_LEVELS } from './logger.js';
import { reexecWithPrefetchThreadpool } from './prefetch-threadpool.js';

export interface PrefetchFlags {
  readonly cacheDir?: string;
  readonly maxCacheSize?: string;
  readonly endpoint?: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly header?: readonly string[];
  readonly headersFile?: string;
  readonly parallel?: string;
  readonly logLevel?: string;
}

export const DEFAULT_PREFETCH_PARALLEL = 16;
export const MAX_PREFETCH_PARALLEL = 256;

/**
 * The command and its flags. What runs it (the store client, the disk cache) is loaded only once the process
 * runs with the thread pool it needs: a re-execution then costs little more than Node's own start.
 */
export function registerPrefetchCommand(program: Command): void {
  program
    .command('prefetch')
    .description('Warm a cache dir ahead of a job: bucketfs prefetch ais://BUCKET[/PREFIX] --cache-dir DIR')
    .argument('<bucket>', 'ais://BUCKET[/PREFIX]: every object under the folder PREFIX (default: the whole bucket)')
    .option('--cache-dir <dir>', 'the cache dir the job\'s mounts use (--cache-dir of bucketfs mount)')
    .option('--max-cache-size <size>', 'bound of the cache dir: a size such as 10G or a share of its disk such as 20% (default: keep 5% of the disk free)')
    .option('--endpoint <url>', 'AIStore endpoint (default: $AIS_ENDPOINT, then http://localhost:51080)')
    .option('--token <token>', 'auth token (visible in ps: prefer --token-file or AIS_AUTHN_TOKEN)')
    .option('--token-file <file>', 'file holding the token ({"token":"..."} or raw)')
    .option('--header <"Name: value">', 'extra request header (repeatable)', (value: string, previous: string[]) => [...previous, value], [])
    .option('--headers-file <file>', 'file of "Name: value" lines')
    .option('--parallel <n>', `GETs in flight at once (default ${DEFAULT_PREFETCH_PARALLEL})`)
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')} (default warn)`)
    .action(async (uri: string, flags: PrefetchFlags) => {
      reexecWithPrefetchThreadpool();
      const { runPrefetch } = await import('./prefetch-run.js');
      await runPrefetch(uri, flags);
    });
}
