import { spawnSync } from 'node:child_process';
import { loadProcessAddon } from './process-addon.js';

/** Where systemd (Type=notify) listens for the service's state, set in the environment of the service. */
export const NOTIFY_SOCKET_ENV = 'NOTIFY_SOCKET';

/**
 * Tells the service manager the mount's state (`READY=1`, `STOPPING=1`, `STATUS=…`, one per line), when it is
 * run as a Type=notify service; does nothing otherwise. The datagram goes from this process itself, so the unit
 * may keep NotifyAccess=main; without the native addon, `systemd-notify` sends it instead, which needs
 * NotifyAccess=all (it is another process). Failures are returned, not thrown: the mount works either way.
 */
export function notifyServiceManager(state: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const socketPath = env[NOTIFY_SOCKET_ENV];
  if (socketPath === undefined || socketPath === '') return undefined;
  const addon = loadProcessAddon();
  try {
    if (addon !== undefined) {
      addon.notify(socketPath, state);
      return undefined;
    }
  } catch (error) {
    return `cannot notify the service manager at ${socketPath}: ${error instanceof Error ? error.message : String(error)}`;
  }
  const result = spawnSync('systemd-notify', state.split('\n'), { env, stdio: 'ignore', timeout: 10_000 });
  if (result.error !== undefined) return `cannot notify the service manager: systemd-notify: ${result.error.message}`;
  return result.status === 0 ? undefined : `cannot notify the service manager: systemd-notify exited with ${result.status ?? result.signal}`;
}
