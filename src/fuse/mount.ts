import { createRequire } from 'node:module';
import { resolve as resolvePath } from 'node:path';
import type FuseType from 'fuse-native';
import type { Logger } from 'pino';
import type { PathFilesystem } from '../fs/types.js';
import { createFuseOperations, type OperationObserver } from './fuse-operations.js';
import { DEFAULT_OPERATION_TIMEOUT_MS, fuseNativeOptions } from './mount-options.js';
import { DEFAULT_READ_AHEAD_KB, setMountReadAheadKb } from './readahead.js';

// fuse-native is CommonJS with a native addon; require keeps its loading explicit.
const Fuse = createRequire(import.meta.url)('fuse-native') as typeof FuseType;

export interface MountOptions {
  readonly fsname: string;
  readonly allowOther?: boolean;
  readonly metadataTtlMs: number;
  readonly operationTimeoutMs?: number;
  readonly logger: Logger;
  /** The mount's bdi read-ahead in KiB (root only); 0 keeps the kernel's default. Default `DEFAULT_READ_AHEAD_KB`. */
  readonly readAheadKb?: number;
  /** Told about every answered kernel request (metrics). */
  readonly observer?: OperationObserver;
}

export interface MountHandle {
  readonly mountpoint: string;
  /** Unmounts (fusermount -uz), then closes the filesystem. Safe to call twice. */
  unmount(): Promise<void>;
}

/** The engines a mount can run on; the test suite is parameterised over this list. */
export const MOUNT_ENGINES = ['fuse-native'] as const;
export type MountEngine = (typeof MOUNT_ENGINES)[number];

export class MountError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MountError';
  }
}

/** Mounts `fs` at `mountpoint`; resolves once the kernel has finished the FUSE handshake. */
export async function mountFilesystem(fs: PathFilesystem, mountpoint: string, options: MountOptions): Promise<MountHandle> {
  const fuse = new Fuse(
    mountpoint,
    createFuseOperations(fs, options.logger, options.observer),
    fuseNativeOptions({
      fsname: options.fsname,
      allowOther: options.allowOther ?? false,
      metadataTtlMs: options.metadataTtlMs,
      operationTimeoutMs: options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS,
    }),
  );
  await new Promise<void>((resolve, reject) => {
    fuse.mount((error) => (error ? reject(new MountError(`cannot mount ${mountpoint}: ${error.message}`, { cause: error })) : resolve()));
  });
  options.logger.info({ mountpoint, fsname: options.fsname }, 'mounted');
  const readAheadKb = options.readAheadKb ?? DEFAULT_READ_AHEAD_KB;
  if (readAheadKb > 0) await setMountReadAheadKb(resolvePath(mountpoint), readAheadKb, options.logger);

  let unmounting: Promise<void> | undefined;
  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      try {
        await new Promise<void>((resolve, reject) => fuse.unmount((error) => (error ? reject(error) : resolve())));
        options.logger.info({ mountpoint }, 'unmounted');
      } finally {
        await fs.close();
      }
    })();
    return unmounting;
  };
  return { mountpoint, unmount };
}
