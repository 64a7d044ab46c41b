import { mountProcessNodeFlags } from './daemonize.js';
import { reexecSelf } from './process-addon.js';

/**
 * A mount run in the foreground (systemd, Kubernetes, a terminal) started without the Node flags a mount
 * process wants (`mountProcessNodeFlags`: `--single-threaded-gc` on a small machine, small semispaces) runs
 * itself again with them, in place: execv keeps the pid a service manager watches, the descriptors and the
 * environment. V8 takes these flags only at start, and not from NODE_OPTIONS. Returns (runs on as it is) when
 * nothing is missing or the native addon is not built; otherwise does not return.
 */
export function reexecWithMountNodeFlags(argv: readonly string[] = process.argv, execArgv: readonly string[] = process.execArgv): void {
  const flags = mountProcessNodeFlags(execArgv);
  // mountProcessNodeFlags only appends: the same length means none is missing, so the new image stops here.
  if (flags.length === execArgv.length) return;
  reexecSelf(flags, argv);
}
