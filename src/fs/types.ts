/**
 * The filesystem core's public face, independent of any FUSE binding. The fuse-native engine is
 * path-based; a low-level (inode-based) engine can use the same core through `lookup`.
 */
export type FileKind = 'file' | 'dir';

export interface FileAttr {
  /** Stable for a path for the life of the mount. The root is 1. */
  readonly ino: number;
  readonly kind: FileKind;
  readonly size: number;
  readonly mtimeMs: number;
  /** Full st_mode, type bits included (S_IFREG | 0o444 ...). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly nlink: number;
}

export interface DirEntry {
  readonly name: string;
  readonly attr: FileAttr;
}

export interface StatfsInfo {
  readonly blockSize: number;
  readonly blocks: number;
  readonly blocksFree: number;
  readonly blocksAvailable: number;
  readonly files: number;
  readonly filesFree: number;
  readonly nameMax: number;
}

/**
 * One open directory, read by position (0-based, the listing's own order; `.` and `..` are the
 * engine's). Positions stay valid for the life of the stream: a reader may go back to one.
 */
export interface DirStream {
  /** The entries at `position`… (at most `max`); none past the end. */
  read(position: number, max: number): Promise<DirEntry[]>;
  /**
   * As `read`, with each entry's number held from its making (as by `InodeFilesystem.holdIno`), for
   * an engine that hands them out in a batch; absent where the numbers are not this stream's own.
   */
  readonly readHeld?: (position: number, max: number) => Promise<DirEntry[]>;
  /** Nothing changed since the kernel last read this listing whole, within the metadata TTL: it may keep its copy. */
  readonly kernelMayKeep: boolean;
  close(): void;
}

export interface OpenResult {
  readonly fh: number;
  /** The object version did not change since the last open: the kernel may keep its page cache. */
  readonly keepCache: boolean;
  /** Asked for with `engineReadsBlocks`: the block file that would hold the whole object, if the disk cache has it. */
  readonly wholeBlock?: WholeBlock;
}

/** How an engine opens a file (engines differ in what they can serve themselves). */
export interface OpenOptions {
  /**
   * The engine opens, checks and serves a disk cache's block file itself (see `WholeBlock`): a small object's
   * open then names its block file instead of opening it, and the engine reports what it served (`engineServed`).
   */
  readonly engineReadsBlocks?: boolean;
}

/**
 * Where the disk cache would keep one block holding a whole object (format: `disk-cache/block-file.ts`). The
 * engine opens it and serves the file's reads from it only if its header checks and names `key`, with
 * `dataBytes` of data; a missing or bad file is no error: the reads come to the core as usual.
 */
export interface WholeBlock {
  readonly path: string;
  /** The key its header must hold, byte for byte (UTF-8). */
  readonly key: string;
  readonly dataBytes: number;
}

/**
 * What lets an engine open a file for reading without asking the core: its `WholeBlock`, while what the core
 * knows of the file (its metadata) holds. Past `validForMs` the open comes to the core, which revalidates.
 */
export interface OpenOffer extends WholeBlock {
  readonly validForMs: number;
  /** The version was opened before: the kernel may keep its pages (as `OpenResult.keepCache`). */
  readonly keepCache: boolean;
}

/** A file made by `create`: its open write handle and its attributes. */
export interface CreateResult {
  readonly fh: number;
  readonly attr: FileAttr;
  /** Asked for with `engineWritesStaged`: the staging file the engine may write the handle's bytes into itself. */
  readonly staged?: EngineStagedFile;
}

/** How an engine creates a file (engines differ in what they can serve themselves). */
export interface CreateOptions {
  /**
   * The engine writes the handle's bytes into its staging file itself, up to `EngineStagedFile.writableEnd`, and
   * reports each write after (`engineWrote`), before any later request of the handle; writes past it come as usual.
   */
  readonly engineWritesStaged?: boolean;
}

/** A staging file an engine writes into itself: a descriptor open for writing, and how far it may write. */
export interface EngineStagedFile {
  readonly fd: number;
  /** The end of the room the staging area set aside for the file: a write ending past it goes to the core. */
  readonly writableEnd: number;
}

/** What `setattr` changes; a field left out stays as it is. */
export interface AttrChanges {
  readonly size?: number;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly atimeMs?: number;
  readonly mtimeMs?: number;
}

/** `rename` flags, as renameat2(2) numbers them. */
export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

/**
 * Every method rejects with `FsError` (from `fs/errno.ts`) carrying the errno to return.
 * Paths are absolute within the mount, `/` separated, as FUSE passes them.
 */
export interface PathFilesystem {
  getattr(path: string): Promise<FileAttr>;
  /** The entries of a directory, without `.` and `..` (the adapter adds them). */
  readdir(path: string): Promise<DirEntry[]>;
  /** A directory to read page by page; answers without listing it. */
  openDir(path: string): Promise<DirStream>;
  open(path: string, flags: number, options?: OpenOptions): Promise<OpenResult>;
  /** Reads up to `length` bytes at `position` into `target`; returns the count (0 at end of file). */
  read(fh: number, target: Buffer, length: number, position: number): Promise<number>;
  release(fh: number): Promise<void>;
  unlink(path: string): Promise<void>;
  /** A new file open for writing (`O_CREAT`); an existing name follows the rules of `open`. */
  create(path: string, mode: number, flags: number, options?: CreateOptions): Promise<CreateResult>;
  /** Writes `data` at `position` of a write handle; returns the bytes taken (all of them). */
  write(fh: number, data: Buffer, position: number): Promise<number>;
  /** close(): uploads a dirty handle and resolves once it landed; EIO otherwise. */
  flush(fh: number): Promise<void>;
  /** The same upload as `flush`; the handle stays open. */
  fsync(fh: number): Promise<void>;
  mkdir(path: string, mode: number): Promise<FileAttr>;
  rmdir(path: string): Promise<void>;
  /** `flags`: `RENAME_NOREPLACE`, `RENAME_EXCHANGE`. */
  rename(from: string, to: string, flags: number): Promise<void>;
  /** `fh` is the open handle the change came through, when the kernel names one (ftruncate). */
  setattr(path: string, changes: AttrChanges, fh?: number): Promise<FileAttr>;
  statfs(path: string): Promise<StatfsInfo>;
  /** Operations a read-only object store cannot perform; rejects with the documented errno. */
  refuseWrite(op: 'mkdir' | 'rmdir' | 'create' | 'write' | 'rename' | 'truncate' | 'chmod' | 'chown' | 'utimens' | 'symlink' | 'link', path: string): Promise<never>;
  /** Drops caches and in-flight work; called at unmount. */
  close(): Promise<void>;
  /** A range of an open file the disk cache holds, to serve without copying through JS; see `CachedRange`. */
  cachedRange?(fh: number, position: number, length: number): CachedRange | undefined;
  /** The engine served `bytes` of open file `fh` from its `WholeBlock` (counted as disk cache hits). */
  engineServed?(fh: number, bytes: number): void;
  /** The engine found no `WholeBlock` to serve `fh` from (missing or bad): its reads come to the core. */
  engineLacksBlock?(fh: number): void;
  /**
   * The engine wrote `bytes` at `position` of handle `fh`'s `EngineStagedFile` itself (`errno`: its pwrite failed
   * after those bytes). Applied as a write the core served; called before any later request of the handle.
   */
  engineWrote?(fh: number, position: number, bytes: number, errno: number): void;
  /** After a write of `fh` that reached the core: how far the engine may now write its staging file (more room set aside). */
  engineWritableEnd?(fh: number): number | undefined;
  /** How an engine may open `path` by itself now (see `OpenOffer`); undefined when only the core may. */
  openOffer?(path: string): OpenOffer | undefined;
  /** The engine served `bytes` of `path` from an `OpenOffer`'s block, through a handle the core never saw. */
  engineServedOffer?(path: string, bytes: number): void;
}

/**
 * The same core seen by inode number, for an engine on libfuse's low-level API. Numbers come
 * from `FileAttr.ino`; the root is 1. Every method rejects with `FsError` (ENOENT for a number
 * never handed out).
 */
export interface InodeFilesystem {
  /** The entry of `name`; counts one lookup of its number, which the caller hands to the kernel. */
  lookupChild(parentIno: number, name: string): Promise<FileAttr>;
  /** The kernel forgot `count` lookups of `ino`: at none, the number may die. */
  forget(ino: number, count: number): void;
  /** Keeps `ino` alive while an entry of it may still be handed to the kernel. */
  holdIno(ino: number): void;
  /** Ends a `holdIno`, counting the lookups the kernel was handed meanwhile. */
  settleIno(ino: number, lookupsHandedOut: number): void;
  openDirByIno(ino: number): Promise<DirStream>;
  attrByIno(ino: number): Promise<FileAttr>;
  openByIno(ino: number, flags: number, options?: OpenOptions): Promise<OpenResult>;
  unlinkChild(parentIno: number, name: string): Promise<void>;
  /** As `PathFilesystem.cachedRange` (handles are shared by both forms). */
  cachedRange?(fh: number, position: number, length: number): CachedRange | undefined;
  /** As `PathFilesystem.engineServed` and `engineLacksBlock`. */
  engineServed?(fh: number, bytes: number): void;
  engineLacksBlock?(fh: number): void;
  /** As `PathFilesystem.engineWrote` and `engineWritableEnd`. */
  engineWrote?(fh: number, position: number, bytes: number, errno: number): void;
  engineWritableEnd?(fh: number): number | undefined;
  /** As `PathFilesystem.openOffer` and `engineServedOffer`, of the file numbered `ino`. */
  openOfferByIno?(ino: number): OpenOffer | undefined;
  engineServedOfferByIno?(ino: number, bytes: number): void;
  /** As `create`; counts one lookup of the new number, as `lookupChild` does. */
  createChild(parentIno: number, name: string, mode: number, flags: number, options?: CreateOptions): Promise<CreateResult>;
  /** As `mkdir`; counts one lookup of the new number. */
  mkdirChild(parentIno: number, name: string, mode: number): Promise<FileAttr>;
  rmdirChild(parentIno: number, name: string): Promise<void>;
  renameChild(parentIno: number, name: string, newParentIno: number, newName: string, flags: number): Promise<void>;
  setattrByIno(ino: number, changes: AttrChanges, fh?: number): Promise<FileAttr>;
}

/**
 * A change the core learned of by itself (a new version, or a name the store no longer has):
 * the kernel's cached pages, attributes or name of it are stale. Numbers as in `FileAttr.ino`.
 */
export interface FsChange {
  readonly kind: 'changed' | 'gone';
  readonly path: string;
  readonly ino: number;
  readonly parentIno: number;
  readonly name: string;
}

export type FsChangeListener = (change: FsChange) => void;

/** A core that reports changes it learns of, so an engine can invalidate the kernel's caches. */
export interface ChangeNotifying {
  /** One listener (the engine's); undefined stops the reports. */
  setChangeListener(listener: FsChangeListener | undefined): void;
}

/**
 * Bytes of an open file that sit in a block file of the disk cache (format: `disk-cache/block-file.ts`), for an
 * engine that serves them itself: pread the covered pieces, check each against its CRC-32, reply. Synchronous
 * and without I/O: the file is already open.
 */
export interface CachedRange {
  /** An open block file; valid until `release()`. */
  readonly fd: number;
  /** Where the first byte served sits in the file. */
  readonly filePosition: number;
  /** Bytes to serve (at most the request; never past the block's end). */
  readonly length: number;
  readonly pieceBytes: number;
  /** CRC-32 of each whole piece covering the range, in order (a block's last piece may be short: its file ends there). */
  readonly pieceCrcs: Uint32Array;
  /** File position of the first covered piece. */
  readonly firstPieceFilePosition: number;
  /** The engine is done with `fd`. */
  release(): void;
  /**
   * Instead of `release`: the engine took a descriptor of its own to serve the reads to come (what it serves is
   * reported with `engineServed`), so this one is done and nothing is counted yet; the file counts as used.
   */
  lent?(): void;
  /** The engine found a mismatch: the block is dropped and a checksum failure counted (then call `release`). */
  corrupt(): void;
}
