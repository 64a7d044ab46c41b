import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** native/process/process_tools.c: calls on the process itself that Node has no API for. */
export interface ProcessAddon {
  /** Replaces this process's image (same pid, environment and descriptors); returns only by throwing. */
  execv(file: string, argv: readonly string[]): never;
  /** Sends `state` (`READY=1`, …) as one datagram to the unix socket `socketPath` (`@name`: abstract). */
  notify(socketPath: string, state: string): boolean;
}

/** Same depth from src/cli and dist/cli: built by node-gyp with the native engine. */
export const PROCESS_ADDON_PATH = fileURLToPath(new URL('../../build/Release/bucketfs_process.node', import.meta.url));

let loaded: ProcessAddon | null | undefined;

/** The addon, or undefined when it was not built (no C toolchain at install): callers then do without it. */
export function loadProcessAddon(): ProcessAddon | undefined {
  if (loaded === undefined) {
    try {
      loaded = existsSync(PROCESS_ADDON_PATH) ? (createRequire(import.meta.url)(PROCESS_ADDON_PATH) as ProcessAddon) : null;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/**
 * Runs this script again in place (execv: same pid, descriptors and arguments), with `nodeFlags` before the
 * script and `env` set just before. Returns (runs on as it is) when the addon is not built.
 */
export function reexecSelf(nodeFlags: readonly string[], argv: readonly string[] = process.argv, env: Readonly<Record<string, string>> = {}): void {
  const addon = loadProcessAddon();
  const [, script, ...args] = argv;
  if (addon === undefined || script === undefined) return;
  Object.assign(process.env, env);
  addon.execv(process.execPath, [process.execPath, ...nodeFlags, script, ...args]);
}
