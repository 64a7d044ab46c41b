import { resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_MOUNT_ENGINE, type MountEngine } from './engines.js';
import type { ChangeNotifying, InodeFilesystem, PathFilesystem } from '../fs/types.js';
import { mountWithFuseNative } from './fuse-native-mount.js';
import type { OperationObserver } from './fuse-operations.js';
import { waitUntilKernelAnswers } from './kernel-connection.js';
import { MountError, type MountHandle } from './mount-handle.js';
import { DEFAULT_OPERATION_TIMEOUT_MS } from './mount-options.js';
import { loadNativeAddon, NATIVE_BUILD_PACKAGES, NativeEngineUnavailableError } from './native-addon.js';
import { mountNative } from './native-mount.js';
import { DEFAULT_READ_AHEAD_KB, setMountReadAheadKb } from './readahead.js';

export { MountError, type EngineStats, type MountHandle } from './mount-handle.js';

// Apart, so that a command that only names the engines (a config's check) loads neither of them.
export { DEFAULT_MOUNT_ENGINE, isMountEngine, MOUNT_ENGINES, type MountEngine } from './engines.js';

/** Why the native engine cannot run here; undefined when its addon loads. */
export function nativeEngineUnavailable(load: () => unknown = loadNativeAddon): NativeEngineUnavailableError | undefined {
  try {
    load();
    return undefined;
  } catch (error) {
    if (error instanceof NativeEngineUnavailableError) return error;
    throw error;
  }
}

let fallbackSaid = false;

/**
 * The engine a mount runs on. An explicit choice stands: `native` without its addon throws
 * NativeEngineUnavailableError, which names what to install. Without a choice: native when its
 * addon loads, else fuse-native, and `say` is told so once per process.
 */
export function chooseMountEngine(requested: MountEngine | undefined, say: (line: string) => void, load: () => unknown = loadNativeAddon): MountEngine {
  if (requested === 'native') load();
  if (requested !== undefined) return requested;
  const why = nativeEngineUnavailable(load);
  if (why === undefined) return DEFAULT_MOUNT_ENGINE;
  if (!fallbackSaid) {
    fallbackSaid = true;
    say(`the native FUSE engine ${why.reason}: mounting with fuse-native (for the native engine: install ${NATIVE_BUILD_PACKAGES}, then npm run build:native)`);
  }
  return 'fuse-native';
}

export interface MountOptions {
  readonly fsname: string;
  readonly allowOther?: boolean;
  /** Mount `ro`: every write is refused by the kernel (EROFS). Default false. */
  readonly readOnly?: boolean;
  readonly metadataTtlMs: number;
  /** Longest time one operation may take before it is answered ETIMEDOUT: a last failsafe against hangs. */
  readonly operationTimeoutMs?: number;
  readonly logger: Logger;
  /** The mount's bdi read-ahead in KiB (root only); 0 keeps the kernel's default. Default `DEFAULT_READ_AHEAD_KB`. */
  readonly readAheadKb?: number;
  /** Told about every answered kernel request (metrics). */
  readonly observer?: OperationObserver;
  /** Default: `chooseMountEngine`'s pick (native when built, else fuse-native). */
  readonly engine?: MountEngine;
}

/** How long the kernel may take to answer for a new mount before mounting counts as failed. */
const KERNEL_ANSWER_TIMEOUT_MS = 10_000;

/** Mounts `fs` at `mountpoint`; resolves once the kernel has finished the FUSE handshake and answers for it. */
export async function mountFilesystem(fs: PathFilesystem & InodeFilesystem & Partial<ChangeNotifying>, mountpoint: string, options: MountOptions): Promise<MountHandle> {
  const engine = chooseMountEngine(options.engine, (line) => options.logger.warn(line));
  const common = {
    fsname: options.fsname,
    allowOther: options.allowOther ?? false,
    readOnly: options.readOnly ?? false,
    metadataTtlMs: options.metadataTtlMs,
    logger: options.logger,
    observer: options.observer,
    operationTimeoutMs: options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
  };
  const handle = engine === 'native' ? await mountNative(fs, mountpoint, common) : await mountWithFuseNative(fs, mountpoint, common);
  // Both engines report the mount from libfuse's init callback, before the INIT reply is written. The kernel
  // caps the read-ahead at that reply's max_readahead, so a read-ahead set earlier would be lost.
  if (!(await waitUntilKernelAnswers(resolvePath(mountpoint), KERNEL_ANSWER_TIMEOUT_MS))) {
    await handle.unmount().catch((error: unknown) => options.logger.debug({ mountpoint, err: error }, 'unmount after a mount the kernel did not answer for'));
    throw new MountError(`the kernel does not answer for ${mountpoint} after mounting`);
  }
  options.logger.info({ mountpoint, fsname: options.fsname, engine }, 'mounted');
  const readAheadKb = options.readAheadKb ?? DEFAULT_READ_AHEAD_KB;
  if (readAheadKb > 0) await setMountReadAheadKb(resolvePath(mountpoint), readAheadKb, options.logger);
  return handle;
}
