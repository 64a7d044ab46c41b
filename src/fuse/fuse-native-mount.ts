import { createRequire } from 'node:module';
import type FuseType from 'fuse-native';
import type { Logger } from 'pino';
import type { PathFilesystem } from '../fs/types.js';
import { createFuseOperations, type OperationObserver } from './fuse-operations.js';
import { MountError, type MountHandle } from './mount-handle.js';
import { fuseNativeOptions } from './mount-options.js';

// fuse-native is CommonJS with a native addon; require keeps its loading explicit.
const Fuse = createRequire(import.meta.url)('fuse-native') as typeof FuseType;

export interface FuseNativeMountOptions {
  readonly fsname: string;
  readonly allowOther: boolean;
  /** Mount `ro`: the kernel refuses every write with EROFS before asking the filesystem. */
  readonly readOnly: boolean;
  readonly metadataTtlMs: number;
  readonly operationTimeoutMs: number;
  readonly logger: Logger;
  readonly observer: OperationObserver | undefined;
}

/**
 * fuse-native has no setting for some kernel options (`ro`); it hands libfuse one `-o` string built by a method of
 * its own, so that string is extended here.
 */
function addKernelOption(fuse: FuseType, option: string): void {
  const builder = fuse as unknown as { _fuseOptions(): string };
  const own = builder._fuseOptions.bind(fuse);
  builder._fuseOptions = () => {
    const options = own();
    return options === '' ? `-o${option}` : `${options},${option}`;
  };
}

/** The fallback engine: fuse-native (libfuse 2, path-based, every request on the JS thread). */
export async function mountWithFuseNative(fs: PathFilesystem, mountpoint: string, options: FuseNativeMountOptions): Promise<MountHandle> {
  const fuse = new Fuse(
    mountpoint,
    createFuseOperations(fs, options.logger, options.observer),
    fuseNativeOptions({
      fsname: options.fsname,
      allowOther: options.allowOther,
      metadataTtlMs: options.metadataTtlMs,
      operationTimeoutMs: options.operationTimeoutMs,
    }),
  );
  if (options.readOnly) addKernelOption(fuse, 'ro');
  // An open with O_TRUNC reaches the filesystem as such, not as a truncate and then an open: an object is replaced
  // whole, never truncated on its own.
  else {
    addKernelOption(fuse, 'atomic_o_trunc');
    // libfuse 2 otherwise hands writes over a page at a time: one JS round trip per 4 KiB.
    addKernelOption(fuse, 'big_writes');
  }
  await new Promise<void>((resolve, reject) => {
    fuse.mount((error) => (error ? reject(new MountError(`cannot mount ${mountpoint}: ${error.message}`, { cause: error })) : resolve()));
  });
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
