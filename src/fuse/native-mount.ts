import { resolve as resolvePath } from 'node:path';
import type { Logger } from 'pino';
import type { ChangeNotifying, InodeFilesystem, PathFilesystem } from '../fs/types.js';
import type { OperationObserver } from './fuse-operations.js';
import { abortConnection, lazyUnmount, mountDevice } from './kernel-connection.js';
import { MountError, type MountHandle } from './mount-handle.js';
import { FUSE_SUBTYPE } from './mount-options.js';
import { loadNativeAddon, READ_SLOT_BYTES, type NativeContext } from './native-addon.js';
import { createNativeDispatch } from './native-dispatch.js';

export interface NativeEngineOptions {
  readonly fsname: string;
  readonly allowOther: boolean;
  /** Mount `ro`: the kernel refuses every write with EROFS before asking the filesystem. */
  readonly readOnly: boolean;
  readonly metadataTtlMs: number;
  readonly logger: Logger;
  readonly observer: OperationObserver | undefined;
  /** Longest time the core may take over one request before it is answered ETIMEDOUT. */
  readonly operationTimeoutMs: number;
  /** libfuse worker threads, i.e. requests in flight at once; default 32. */
  readonly maxThreads?: number;
}

/** How long the kernel may take to send INIT after the mount. */
const INIT_TIMEOUT_MS = 10_000;
/** After a lazy unmount, how long open files may keep the connection before it is cut. */
const UNMOUNT_GRACE_MS = 1_000;
const ABORT_WAIT_MS = 5_000;

const NO_OBSERVER: OperationObserver = { operationDone: () => {} };

/** The native handle of a mount, for the core's cache invalidation. */
export interface KernelCacheNotifier {
  /** Drops the kernel's pages and attributes of `ino`. */
  inodeChanged(ino: number): void;
  /** Drops the kernel's dentry of `name` in `parentIno`. */
  entryGone(parentIno: number, name: string): void;
}

function settled(promise: Promise<void>, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Mounts `fs` with the native libfuse 3 engine (native/): requests are served on libfuse's worker
 * threads, which hand them to the core on this thread and write the replies themselves.
 */
export async function mountNative(fs: PathFilesystem & InodeFilesystem & Partial<ChangeNotifying>, mountpoint: string, options: NativeEngineOptions): Promise<MountHandle & { readonly notifier: KernelCacheNotifier }> {
  const addon = loadNativeAddon();
  const { logger } = options;
  let context: NativeContext | undefined;
  let slots: Buffer[] = [];
  let markInitialized = (): void => {};
  const initialized = new Promise<void>((resolve) => (markInitialized = resolve));
  let markEnded = (): void => {};
  const ended = new Promise<void>((resolve) => (markEnded = resolve));
  const dispatch = createNativeDispatch({
    fs,
    addon,
    context: () => {
      if (context === undefined) throw new Error('a request arrived before the mount returned');
      return context;
    },
    slots: () => slots,
    logger,
    observer: options.observer ?? NO_OBSERVER,
    operationTimeoutMs: options.operationTimeoutMs,
    onInitialized: () => markInitialized(),
    onEnded: () => markEnded(),
  });
  const ttlSeconds = Math.max(0, options.metadataTtlMs) / 1000;
  try {
    context = addon.mount(
      mountpoint,
      {
        fsname: options.fsname.replace(/,/g, '_'),
        subtype: FUSE_SUBTYPE,
        allowOther: options.allowOther,
        readOnly: options.readOnly,
        attrTimeoutS: ttlSeconds,
        entryTimeoutS: ttlSeconds,
        maxThreads: options.maxThreads ?? 32,
      },
      dispatch,
    );
  } catch (error) {
    throw new MountError(`cannot mount ${mountpoint}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const mounted = context;
  const slotMemory = addon.readSlots(mounted);
  if (slotMemory !== undefined) {
    slots = Array.from({ length: slotMemory.byteLength / READ_SLOT_BYTES }, (_, index) => Buffer.from(slotMemory, index * READ_SLOT_BYTES, READ_SLOT_BYTES));
  }
  if (!(await settled(initialized, INIT_TIMEOUT_MS))) logger.warn({ mountpoint }, 'the kernel did not finish the FUSE handshake in time');
  // Known now, while mounted: after an outside unmount mountinfo no longer names it, and teardown may need it.
  const device = await mountDevice(resolvePath(mountpoint));

  let unmounting: Promise<void> | undefined;
  const unmount = (): Promise<void> => {
    unmounting ??= (async () => {
      try {
        fs.setChangeListener?.(undefined);
        await lazyUnmount(mountpoint).catch((error: unknown) => logger.debug({ mountpoint, err: error }, 'fusermount3 -uz failed (already unmounted?)'));
        if (!(await settled(ended, UNMOUNT_GRACE_MS))) {
          // Files are still open on the detached mount: answer everything ENODEV and cut the connection.
          const pending = addon.stop(mounted);
          const aborted = device !== undefined && (await abortConnection(device));
          logger.debug({ mountpoint, pending, aborted }, 'files still open at unmount: requests end with ENODEV');
          if (!(await settled(ended, ABORT_WAIT_MS))) logger.warn({ mountpoint }, 'the FUSE session still runs after unmount (files open, not root?)');
        }
        logger.info({ mountpoint }, 'unmounted');
        logger.debug({ mountpoint, ...addon.stats(mounted) }, 'native session: requests dispatched to the core, answered by the teardown, left');
      } finally {
        await fs.close();
      }
    })();
    return unmounting;
  };
  const notifier: KernelCacheNotifier = {
    inodeChanged: (ino) => void addon.notifyInvalInode(mounted, ino),
    entryGone: (parentIno, name) => void addon.notifyInvalEntry(mounted, parentIno, name),
  };
  // What the core learns of by itself (a new version, a name gone from a listing) reaches the kernel's caches.
  fs.setChangeListener?.((change) => {
    // The engine's open offers were made of what the core knew before: they go with it.
    addon.dropOpenOffers(mounted);
    if (change.kind === 'changed') notifier.inodeChanged(change.ino);
    else notifier.entryGone(change.parentIno, change.name);
  });
  return { mountpoint, unmount, notifier, engineStats: () => addon.stats(mounted) };
}
