import { reexecWithMountNodeFlags } from './node-flags-reexec.js';
import { reexecWithPrefetchThreadpool } from './prefetch-threadpool.js';

/*
 * Imported first by main.ts, so that it runs before the rest of the CLI is evaluated: a `mount … --foreground`
 * started without the mount's Node flags runs itself again with them before it pays for loading the whole
 * program (about half of its start-up CPU). A mount that is in the foreground by its config file is re-executed
 * later, by the mount command, once that file is read. A prefetch takes its thread pool here too, for the same
 * reason (its command re-executes only where this did not, for example under another entry point).
 */
const [, , command, ...args] = process.argv;
if (command === 'mount' && args.includes('--foreground')) reexecWithMountNodeFlags();
else if (command === 'prefetch' && !args.includes('--help') && !args.includes('-h')) reexecWithPrefetchThreadpool();
