import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** The kernel requests the addon hands to JS; numbers shared with native/mount_context.h. */
export const NativeOp = {
  lookup: 1,
  getattr: 2,
  open: 3,
  read: 4,
  release: 5,
  opendir: 6,
  statfs: 7,
  access: 8,
  unlink: 9,
  refuse: 10,
  readdir: 11,
  releasedir: 12,
  forget: 13,
  /** A new file: an entry and an open handle; counts one lookup. */
  create: 14,
  write: 15,
  /** A close() of a descriptor (there may be several per open). */
  flush: 16,
  /** fsync; flags 1: fdatasync. */
  fsync: 17,
  /** Counts one lookup. */
  mkdir: 18,
  rmdir: 19,
  /** flags: RENAME_NOREPLACE / RENAME_EXCHANGE. */
  rename: 20,
  /** flags: SETATTR_WITH_FH when fh is the open handle; buffer: SETATTR_FIELDS doubles, NaN when unset. */
  setattr: 21,
  /** Not a request: the session loop ended and the mount is gone. */
  ended: 100,
  /** Not a request: the kernel finished the handshake (INIT). */
  initialized: 101,
  /** Not a request: cache hits the engine served; `buffer` holds their ids, as doubles (native/cache_read.c). */
  cacheSettled: 102,
  /**
   * Not a request: writes the engine served into staging files; `buffer` holds WRITE_REPORT_NUMBERS doubles per
   * write (native/staged_write.c), and reaches JS before any later request of those handles.
   */
  writesReported: 103,
} as const;

/** A served write's report: its handle, offset, the bytes written, the errno of a pwrite that failed (0: none), its seconds. */
export const WRITE_REPORT_NUMBERS = 5;

/** The opaque per-mount handle the addon returns. */
export type NativeContext = { readonly __nativeMountContext: unique symbol };

/** A setattr's changes, in order: size, mode, uid, gid, atime and mtime in ms (native/mount_context.h). */
export const SETATTR_FIELDS = 6;
/** A setattr flag: `fh` is the handle of the open file it came through. */
export const SETATTR_WITH_FH = 1;

/**
 * Called on the JS thread for every request:
 * (op, id, ino, name, fh, offset, size, flags, buffer, refusedOp, slot, mode, newParent, newName).
 * A read's bytes go to read slot `slot` (see `readSlots`) or, when `slot` is -1, to `buffer`: native
 * memory of `size` bytes. A write's bytes are `buffer`, native memory the Buffer keeps alive.
 * `mode`: create and mkdir; `newParent`, `newName`: rename.
 */
export type NativeDispatch = (
  op: number,
  id: number,
  ino: number,
  name: string | undefined,
  fh: number,
  offset: number,
  size: number,
  flags: number,
  buffer: Buffer | undefined,
  refusedOp: string | undefined,
  slot: number,
  mode: number,
  newParent: number,
  newName: string | undefined,
) => void;

export interface NativeMountOptions {
  readonly fsname: string;
  readonly subtype: string;
  readonly allowOther: boolean;
  readonly readOnly: boolean;
  readonly attrTimeoutS: number;
  readonly entryTimeoutS: number;
  readonly maxThreads?: number;
  readonly debug?: boolean;
}

export interface NativeStats {
  readonly dispatched: number;
  readonly aborted: number;
  readonly outstanding: number;
  readonly ended: boolean;
  /** Read slots never handed out again: JS received their read but a timeout or the teardown answered it. */
  readonly readSlotsWithheld: number;
  /** Kernel cache invalidations queued or running on the mount's notifier thread. */
  readonly invalidationsPending: number;
  readonly invalidationsDone: number;
  /** Invalidations that could not be queued (out of memory). */
  readonly invalidationsDropped: number;
  /** Reads served from the local cache by the engine's worker threads, and their bytes. */
  readonly cacheHits: number;
  readonly cacheHitBytes: number;
  /** Cache hits the engine handed back to JS as usual reads: a checksum mismatch, a short block file, a read error. */
  readonly cacheFallbacks: number;
  /** Calls into JS that carried the engine's reports of cache hits served, handles opened and released. */
  readonly cacheReportCalls: number;
  /** Writes served into staging files by the engine's worker threads, and their bytes. */
  readonly stagedWrites: number;
  readonly stagedWriteBytes: number;
  /** Opens the engine served alone, from offers (`offerOpens`). */
  readonly opensServed: number;
  /** Reads of block files the engine made for handles it serves from their whole block (a file read whole with its open is one). */
  readonly blockFileReads: number;
  /** The bytes those reads asked for. */
  readonly blockFileReadBytes: number;
  /** Those of the reads that went from the disk straight into memory (O_DIRECT), past the page cache: files the kernel held few pages of. */
  readonly blockFileDirectReads: number;
  /** Opens from offers that handed the kernel the whole file's pages with the reply, so that its reads stay in the kernel. */
  readonly pageStores: number;
  /** READ requests the kernel sent, answered by the engine or by JS. */
  readonly readRequests: number;
}

/** The addon's functions (native/addon.c). Every reply returns false when the request was already answered. */
export interface NativeAddon {
  readonly libfuseVersion: number;
  mount(mountpoint: string, options: NativeMountOptions, dispatch: NativeDispatch): NativeContext;
  stop(context: NativeContext): number;
  stats(context: NativeContext): NativeStats;
  /** The read slots, slot i at byte i × READ_SLOT_BYTES; call once, right after `mount`. */
  readSlots(context: NativeContext): ArrayBuffer | undefined;
  replyError(context: NativeContext, id: number, errno: number): boolean;
  /** Answers `errno` for a request the core is still working on (its read slot is never reused). */
  abandon(context: NativeContext, id: number, errno: number): boolean;
  /** `attr` holds STAT_NUMBERS numbers (src/fuse/stat.ts). */
  replyAttr(context: NativeContext, id: number, attr: Float64Array): boolean;
  /**
   * `cacheDir` (opendir only) lets the kernel keep the listing it reads. An open may name the block file holding
   * the whole object (`WholeBlock` in src/fs/types.ts): the engine opens and checks it, then serves the handle's reads.
   */
  replyOpen(context: NativeContext, id: number, fh: number, keepCache: boolean, directIo: boolean, cacheDir: boolean, blockPath?: string, blockKey?: string, blockDataBytes?: number): boolean;
  replyRead(context: NativeContext, id: number, bytes: number): boolean;
  /**
   * Answers a read from the local cache: `ranges` holds CACHE_RANGE_NUMBERS numbers per range (see
   * src/fuse/native-cache-hits.ts), `crcs` their pieces' CRC-32s in order; the read's bytes are the
   * ranges' then `tailBytes` already in the request's buffer. The engine reads and checks them itself.
   */
  replyCached(context: NativeContext, id: number, ranges: Float64Array, crcs: Uint32Array, tailBytes: number): boolean;
  /**
   * Lends handle `fh`'s reads to come the cached blocks in `ranges` (LENT_RANGE_NUMBERS numbers per block, see
   * src/fuse/native-cache-hits.ts; `crcs` as for `replyCached`): the engine keeps descriptors of its own and serves
   * the reads they cover without asking. Returns how many blocks it took.
   */
  lendRanges(context: NativeContext, fh: number, ranges: Float64Array, crcs: Uint32Array): number;
  /** A write: the count of bytes the core took. */
  replyWrite(context: NativeContext, id: number, bytes: number): boolean;
  /**
   * A create: the new file's handle and attributes (STAT_NUMBERS numbers); the worker replies entry and open together.
   * A staging file's descriptor (the engine takes a copy of its own) lets the engine serve the handle's writes that end
   * at or before `writableEnd` itself (native/staged_write.c).
   */
  replyCreate(context: NativeContext, id: number, fh: number, attr: Float64Array, keepCache: boolean, stagedFd?: number, writableEnd?: number): boolean;
  /** The engine may serve writes of handle `fh` up to this offset now. */
  stagedWriteEnd(context: NativeContext, fh: number, writableEnd: number): void;
  /** The handle `fh` is released: the engine closes its copy of the staging file's descriptor. */
  stagedWriteDrop(context: NativeContext, fh: number): void;
  replyStatfs(context: NativeContext, id: number, blockSize: number, blocks: number, blocksFree: number, blocksAvailable: number, files: number, filesFree: number, nameMax: number): boolean;
  /**
   * A batch of `count` directory entries, the first at the request's offset: `names` joined by
   * NUL (read in one call), `attrs` STAT_NUMBERS numbers per name; `last`: no entry follows.
   */
  replyDir(context: NativeContext, id: number, names: string, count: number, attrs: Float64Array, last: boolean): boolean;
  notifyInvalInode(context: NativeContext, ino: number): boolean;
  notifyInvalEntry(context: NativeContext, parentIno: number, name: string): boolean;
  /** Hands the C heap's free memory back to the system; true when some was. */
  trimMemory(): boolean;
  /**
   * Offers opens the engine may serve alone (`OpenOffer` in src/fs/types.ts): `numbers` holds OPEN_OFFER_NUMBERS
   * per offer (ino, dataBytes, validForS, keepCache as 0/1), `texts` each one's block path and key, each ended by NUL.
   */
  offerOpens(context: NativeContext, numbers: Float64Array, texts: string): number;
  /** Every offer goes: what they were made of may have changed. */
  dropOpenOffers(context: NativeContext): boolean;
  /** Mount contexts of this process not freed yet (a context lives until its JS handle and its session are both gone). */
  liveContexts(): number;
}

export const OPEN_OFFER_NUMBERS = 4;
/** Handles the engine opened alone are numbered from here (native/mount_context.h): the core never made them. */
export const ENGINE_FH_BASE = 2 ** 52;

/** The size of one read slot: the largest request the kernel sends. */
export const READ_SLOT_BYTES = 1024 * 1024;

/** What the native engine's build needs (native/build.sh). */
export const NATIVE_BUILD_PACKAGES = 'libfuse3-dev libdeflate-dev pkg-config build-essential python3';

export class NativeEngineUnavailableError extends Error {
  /** Why, in a few words: "… is missing", "cannot be loaded: …". */
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`the native FUSE engine ${reason}: install ${NATIVE_BUILD_PACKAGES}, then run "npm run build:native"; or mount with --engine fuse-native`, options);
    this.name = 'NativeEngineUnavailableError';
    this.reason = reason;
  }
}

/** Same depth from src/fuse and dist/fuse: the addon node-gyp built at the package root. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../build/Release/bucketfs_fuse.node', import.meta.url));
/** Another build of the addon to load instead (an ASan build: see native/README.md). */
export const NATIVE_ADDON_ENV = 'BUCKETFS_NATIVE_ADDON';

const loaded = new Map<string, NativeAddon>();

/** The addon, loaded on first use; a missing or broken build throws NativeEngineUnavailableError. */
export function loadNativeAddon(env: NodeJS.ProcessEnv = process.env): NativeAddon {
  const path = env[NATIVE_ADDON_ENV] || NATIVE_ADDON_PATH;
  const known = loaded.get(path);
  if (known !== undefined) return known;
  if (!existsSync(path)) throw new NativeEngineUnavailableError(`is not built (${path} is missing)`);
  let addon: NativeAddon;
  try {
    addon = createRequire(import.meta.url)(path) as NativeAddon;
  } catch (error) {
    throw new NativeEngineUnavailableError(`cannot be loaded (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  loaded.set(path, addon);
  return addon;
}

/** Gives the process's free C heap back to the system, when the native engine is loaded; false otherwise. */
export function trimNativeHeap(): boolean {
  for (const addon of loaded.values()) return addon.trimMemory();
  return false;
}
