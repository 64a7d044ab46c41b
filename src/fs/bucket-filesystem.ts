import type { Logger } from 'pino';
import type { BucketClient } from '../store/bucket-client.js';
import { Errno, FsError, toFsError } from './errno.js';
import { HandleTable, type FileHandle } from './file-handle.js';
import { DEFAULT_IDLE_INODES, InodeTable } from './inode-table.js';
import { InodeView } from './inode-view.js';
import { Lookup } from './lookup.js';
import { MetadataCache } from './metadata-cache.js';
import type { NodeInfo } from './node-info.js';
import { DEFAULT_LIST_CACHE_ENTRIES, isFolderAt, ListingCache, type PackedListing } from './listing-cache.js';
import { ListedMetadataCache } from './listed-metadata.js';
import { ListingStream } from './listing-stream.js';
import { TreeWalk } from './tree-prefetch.js';
import { DIR_NODE } from './node-info.js';
import { ancestorPaths, joinPath, listingPrefixForDir, normalizePath, normalizePrefix, objectKeyForPath, parentPath } from './paths.js';
import { fetchRange, type ObjectReaderFactory, type ObjectSnapshot } from './read-path.js';
import { DEFAULT_LIST_PAGE_SIZE, type ListedChild } from './readdir.js';
import {
  DEFAULT_DIR_MODE,
  DEFAULT_FILE_MODE,
  DEFAULT_UNLINK_PIN_MAX_BYTES,
  DEFAULT_WRITABLE_DIR_MODE,
  DEFAULT_WRITABLE_FILE_MODE,
  UNCHANGED_ID,
  overwriteRefusal,
  unsupportedOpError,
  S_IFDIR,
  S_IFREG,
  STATFS,
  opensForWriting,
  refusedWriteError,
  type RefusedOp,
} from './semantics.js';
import { blockCacheFor, type BlockCache } from './block-cache.js';
import { ChangeTracker } from './change-tracker.js';
import { prefetchingReaderFactory } from './prefetcher.js';
import { resolveReadPathOptions, type ReadPathOptions } from './read-path-options.js';
import type { ReadStats } from './read-stats.js';
import { SingleFlight } from './single-flight.js';
import type { AttrChanges, CachedRange, ChangeNotifying, CreateOptions, CreateResult, DirEntry, DirStream, FileAttr, FsChangeListener, InodeFilesystem, OpenOffer, OpenOptions, OpenResult, PathFilesystem, StatfsInfo } from './types.js';
import type { ListPage, ListPageRequest } from '../store/object-store.js';
import { WarnOnce } from './warn-once.js';
import type { CachedObject, DiskCache, ObjectKey } from './disk-cache/disk-cache.js';
import type { FileNodeInfo } from './node-info.js';
import { LRUCache } from 'lru-cache';
import { constants as fsConstants } from 'node:fs';
import { LocalFolders } from './local-folders.js';
import type { StagingArea } from './staging-area.js';
import { stagedFileReader, WriteHandle, type Landed } from './write-handle.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE } from './types.js';

/** The one file info `keptEntries` fills for each child in turn. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface BucketFilesystemOptions {
  readonly client: BucketClient;
  /** `''` for the whole bucket, or a folder such as `train/` (a trailing `/` is added). */
  readonly prefix?: string;
  readonly uid?: number;
  readonly gid?: number;
  /** Permission bits of files, without type bits; default 0444. */
  readonly fileMode?: number;
  /** Permission bits of directories, without type bits; default 0555. */
  readonly dirMode?: number;
  readonly metadataTtlMs: number;
  readonly negativeMetadataTtlMs: number;
  readonly allowDelete: boolean;
  readonly logger: Logger;
  /** Clock for TTLs and the mount time; `Date.now` by default. */
  readonly now?: () => number;
  /** Bound of the metadata cache (found and missing names), in entries; default 100,000. */
  readonly metadataCacheMaxEntries?: number;
  /** Inode numbers kept that neither the kernel nor an open file holds; default 100,000. */
  readonly idleInodeMaxEntries?: number;
  /** Bound of the finished listings kept, in children; default 200,000. */
  readonly listCacheMaxEntries?: number;
  /** Most entries one recursive listing of a walked tree fetches ahead; 0 turns the tree prefetch off. Default 1,000,000. */
  readonly treePrefetchMaxEntries?: number;
  /** Entries per listing request; default 10,000. */
  readonly listPageSize?: number;
  /** Sizes of the read path (cache, blocks, parts, windows); defaults in `DEFAULT_READ_PATH`. */
  readonly readPath?: Partial<ReadPathOptions>;
  /**
   * A block cache shared with other filesystems of the same mount (one budget for all buckets);
   * its owner closes it. Default: one of this filesystem's own, sized by `readPath`.
   */
  readonly blockCache?: BlockCache;
  /** How open files read; by default through the block cache with per-file prefetch. */
  readonly readerFactory?: ObjectReaderFactory;
  /** The disk cache of the mount, and what names this bucket in it. */
  readonly diskCache?: DiskCacheBinding;
  /** Largest object kept in memory for its open files when unlinked; default 64 MiB. */
  readonly unlinkPinMaxBytes?: number;
  /** Writes (new files, mkdir, rename); absent: the filesystem is read-only (EROFS). */
  readonly writes?: WriteOptions;
}

export interface DiskCacheBinding {
  readonly cache: DiskCache;
  /** The store's endpoint and the bucket, as they name the bucket's objects in the shared cache dir. */
  readonly endpoint: string;
  readonly bucket: string;
}

export interface WriteOptions {
  /** Where written bytes wait for their upload (shared by the filesystems of one mount). */
  readonly staging: StagingArea;
  /** Replacing an existing object (open with O_TRUNC, rename onto it) is allowed; default false (EPERM). */
  readonly allowOverwrite?: boolean;
  /** How the staging files name the bucket (its URI); default the bucket's name. */
  readonly bucketLabel?: string;
}

/** Counters of the write path (metrics). */
export interface WriteStats {
  readonly bytesWritten: number;
  readonly uploads: number;
  readonly uploadFailures: number;
}

/** Paths made through this mount whose mode and owner changes are accepted (and not kept): see `setattr`. */
const MADE_HERE_MAX = 100_000;

export const DEFAULT_METADATA_CACHE_MAX_ENTRIES = 100_000;
export const DEFAULT_TREE_PREFETCH_MAX_ENTRIES = 1_000_000;
/** Parents whose last opened sub-folder is remembered, to see a walk begin. */
const RECENT_PARENTS_MAX = 1024;
/**
 * Room of the staging area an engine that writes a file itself may fill past its end before asking the core again
 * (moved ahead as its writes are reported): as large as the file so far, within these bounds. Each file open for
 * writing holds its room of the bound until it closes.
 */
const ENGINE_WRITE_ROOM_MIN_BYTES = 8 * 1024 * 1024;
const ENGINE_WRITE_ROOM_MAX_BYTES = 64 * 1024 * 1024;

/** Where the read path's counters can be read (metrics). */
export interface ReadStatsSource {
  readStats(): ReadStats;
}

/** How much the metadata side holds now: every table is bounded, and these say how full. */
export interface MetadataStats {
  /** Inode numbers alive. */
  readonly inodes: number;
  /** Of them, numbers the kernel (or an entry batch) holds, which no LRU may drop. */
  readonly heldInodes: number;
  /** Found and missing names cached. */
  readonly metadataEntries: number;
  /** Children of the finished listings kept. */
  readonly listedEntries: number;
}

export function createBucketFilesystem(
  options: BucketFilesystemOptions,
): PathFilesystem & InodeFilesystem & ReadStatsSource & ChangeNotifying & { metadataStats(): MetadataStats; writeStats(): WriteStats; sweep(): void } {
  return new BucketFilesystem(options);
}

/** One bucket (or one prefix of it) as a read-mostly filesystem, talking only to a `BucketClient`. */
class BucketFilesystem implements PathFilesystem, InodeFilesystem, ReadStatsSource, ChangeNotifying {
  private readonly client: BucketClient;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly mountTimeMs: number;
  private readonly logger: Logger;
  private readonly inodes: InodeTable;
  private readonly changes: ChangeTracker;
  private readonly listings: ListingCache;
  /** Pages of one listing asked for at once by several readers of a folder: one request. */
  private readonly pageFlights = new SingleFlight<ListPage>();
  private listingPasses = 0;
  private readonly sweeper: NodeJS.Timeout;
  /** The recursive listing under way, if a walk of a tree set one off. */
  private walk: TreeWalk | undefined;
  /** Per parent folder, the sub-folder opened last: a second one means something walks the tree. */
  private readonly lastOpenedChild = new Map<string, string>();
  private readonly cache: MetadataCache;
  private readonly lookup: Lookup;
  private readonly handles = new HandleTable();
  private readonly warnings: WarnOnce;
  private readonly inodeView: InodeView;
  private readonly readerFactory: ObjectReaderFactory;
  private readonly blockCache: BlockCache;
  private readonly ownsBlockCache: boolean;
  private readonly uid: number;
  private readonly gid: number;
  private readonly fileMode: number;
  private readonly dirMode: number;
  /** Open write handles by number, and by the path they show at (newest last). */
  private readonly writers = new Map<number, WriteHandle>();
  private readonly writersByPath = new Map<string, WriteHandle[]>();
  private readonly localFolders = new LocalFolders();
  private readonly madeHere = new LRUCache<string, true>({ max: MADE_HERE_MAX });
  private readonly counters = { bytesWritten: 0, uploads: 0, uploadFailures: 0 };

  constructor(private readonly options: BucketFilesystemOptions) {
    this.client = options.client;
    this.prefix = normalizePrefix(options.prefix);
    this.now = options.now ?? Date.now;
    this.mountTimeMs = this.now();
    // The caller's logger already names the bucket (as `ais://name`); the prefix is the core's own knowledge.
    this.logger = this.prefix === '' ? options.logger : options.logger.child({ prefix: this.prefix });
    this.listings = new ListingCache({ ttlMs: options.metadataTtlMs, maxEntries: options.listCacheMaxEntries ?? DEFAULT_LIST_CACHE_ENTRIES, now: this.now });
    this.cache = new ListedMetadataCache(
      {
        metadataTtlMs: options.metadataTtlMs,
        negativeMetadataTtlMs: options.negativeMetadataTtlMs,
        maxEntries: options.metadataCacheMaxEntries ?? DEFAULT_METADATA_CACHE_MAX_ENTRIES,
        now: this.now,
      },
      this.listings,
    );
    this.lookup = new Lookup(this.client, this.prefix, this.cache);
    this.inodes = new InodeTable(options.idleInodeMaxEntries ?? DEFAULT_IDLE_INODES, this.now);
    this.changes = new ChangeTracker(this.inodes, (path, now) => this.sawObjectChange(path, now));
    // Expired entries leave on their own, so memory goes back down once a walk is over and forgotten.
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs(options.metadataTtlMs));
    this.sweeper.unref();
    this.warnings = new WarnOnce(this.logger, this.now);
    this.inodeView = new InodeView(this, this.inodes);
    const readPath = resolveReadPathOptions(options.readPath);
    this.ownsBlockCache = options.blockCache === undefined;
    this.blockCache = options.blockCache ?? blockCacheFor(readPath);
    this.readerFactory =
      options.readerFactory ??
      prefetchingReaderFactory(this.blockCache, { ...readPath, blockSizeBytes: this.blockCache.blockSizeBytes }, (snapshot) => this.diskObjectOf(snapshot));
    this.uid = options.uid ?? process.getuid?.() ?? 0;
    this.gid = options.gid ?? process.getgid?.() ?? 0;
    const writable = options.writes !== undefined;
    this.fileMode = (options.fileMode ?? (writable ? DEFAULT_WRITABLE_FILE_MODE : DEFAULT_FILE_MODE)) & 0o7777;
    this.dirMode = (options.dirMode ?? (writable ? DEFAULT_WRITABLE_DIR_MODE : DEFAULT_DIR_MODE)) & 0o7777;
  }

  async getattr(path: string): Promise<FileAttr> {
    const normalized = normalizePath(path);
    const writer = this.newestWriter(normalized);
    if (writer !== undefined) return this.writerAttr(writer);
    if (this.localFolders.has(normalized)) return this.attrOf(normalized, DIR_NODE);
    const info = await this.guard(() => this.lookup.resolve(normalized)).catch((error: unknown) => {
      if (error instanceof FsError && error.errno === Errno.ENOENT) this.sawGone(normalized);
      throw error;
    });
    return this.attrOf(normalized, info);
  }

  async readdir(path: string): Promise<DirEntry[]> {
    const stream = await this.openDir(path);
    try {
      const entries: DirEntry[] = [];
      for (;;) {
        const batch = await stream.read(entries.length, this.pageSize);
        if (batch.length === 0) return entries;
        entries.push(...batch);
      }
    } finally {
      stream.close();
    }
  }

  async openDir(path: string): Promise<DirStream> {
    const dirPath = normalizePath(path);
    return this.guard(async () => {
      // A folder the kernel read whole within the TTL is read from the kernel: it was a folder then, nothing is
      // asked of the store, and no walk is set off or waited for.
      if (this.listings.kernelMayKeep(dirPath) || this.localFolders.has(dirPath)) return this.dirStream(dirPath);
      const info = await this.lookup.resolve(dirPath);
      if (info.kind !== 'dir') throw new FsError(Errno.ENOTDIR, `not a directory: ${dirPath}`);
      this.noteOpened(dirPath);
      const dirPrefix = listingPrefixForDir(this.prefix, dirPath);
      if (this.walk?.covers(dirPrefix)) await this.walk.waitFor(dirPrefix);
      return this.dirStream(dirPath);
    });
  }

  private get pageSize(): number {
    return this.options.listPageSize ?? DEFAULT_LIST_PAGE_SIZE;
  }

  /**
   * A folder's children by position: from the listing kept for the TTL, else from the store page
   * by page. A pass from the start to the end is kept, and tells which numbered names are gone.
   */
  private dirStream(dirPath: string): DirStream {
    const kernelMayKeep = this.listings.kernelMayKeep(dirPath);
    const pass = (this.listingPasses += 1);
    const kept = this.listings.getPacked(dirPath);
    let source: { read(position: number, max: number): Promise<readonly ListedChild[]>; close(): void };
    if (kept !== undefined) {
      this.walk?.read(listingPrefixForDir(this.prefix, dirPath));
      // The kept listing itself answers the lookups that follow its entries (`ListedMetadataCache`); its
      // children are read from it in place (`keptEntries`), this source only says where it ends.
      source = { read: async () => [], close: () => {} };
    } else {
      // Any invalidation during the pass may concern a page already fetched: such a pass is not kept.
      const passGeneration = this.cache.generation;
      let pageGeneration = passGeneration;
      // Only children numbered before the pass can be found gone by it; when there are none, a child needs no
      // mark as it arrives (the reader marks what it numbers), which spares a search per child.
      const numberedBefore = this.inodes.nextNumber;
      const markArrivals = this.inodes.hasNumberedChildren(dirPath);
      const stream = new ListingStream({
        dirPrefix: listingPrefixForDir(this.prefix, dirPath),
        warnings: this.warnings,
        pageSize: this.pageSize,
        collectLimit: this.listings.perFolderLimit,
        listPage: async (request) => {
          const generation = this.cache.generation;
          const page = await this.listPage(request);
          pageGeneration = generation;
          return page;
        },
        onChild: ({ name, info }) => {
          this.cache.setFound(joinPath(dirPath, name), info, pageGeneration);
          if (markArrivals) this.inodes.markChildListed(dirPath, name, pass);
        },
        onComplete: (children) => {
          const unchanged = passGeneration === this.cache.generation;
          this.sawListingEnd(dirPath, pass, numberedBefore);
          if (children !== undefined && unchanged) this.listings.set(dirPath, children);
        },
      });
      // A listing the kernel still holds is fetched only if the kernel asks for it after all.
      if (!kernelMayKeep) stream.start();
      source = stream;
    }
    // The kernel holds the listing whole only when it read every position in order.
    let nextInOrder = 0;
    // After the store's children: what exists only in this mount (folders made here, new files being written).
    let storeEnd: number | undefined;
    const read = async (position: number, max: number, hold: boolean): Promise<DirEntry[]> => {
      if (kept !== undefined && position < kept.names.length) {
        const end = Math.min(kept.names.length, position + max);
        nextInOrder = position === nextInOrder ? end : -1;
        return this.keptEntries(dirPath, kept, position, end, pass, hold);
      }
      let children: readonly ListedChild[];
      if (kept !== undefined && storeEnd === undefined) storeEnd = kept.names.length;
      if (storeEnd === undefined || position < storeEnd) {
        children = await source.read(position, max);
        // A read of the store's listing comes back empty only at its end.
        if (children.length === 0) {
          storeEnd = position;
          children = this.childrenOnlyHere(dirPath).slice(0, max);
        }
      } else {
        children = this.childrenOnlyHere(dirPath).slice(position - storeEnd, position - storeEnd + max);
      }
      if (position === nextInOrder) nextInOrder += children.length;
      else nextInOrder = -1;
      if (children.length === 0 && nextInOrder >= 0) this.listings.markKernelHolds(dirPath);
      const numberChild = this.inodes.childNumberer(dirPath, hold);
      return children.map(({ name, info }) => {
        const child = numberChild(name, pass, info.kind === 'file' ? info : undefined);
        if (child.stale) this.changes.sawStale(child.path);
        return { name, attr: this.attrWith(child.ino, info) };
      });
    };
    return {
      kernelMayKeep,
      read: (position, max) => read(position, max, false),
      readHeld: (position, max) => read(position, max, true),
      close: () => source.close(),
    };
  }

  /**
   * Children `from`…`to` of a kept listing, numbered as `dirStream` numbers any, read from the packed
   * listing with no object per child but the entry handed out (one file info serves every child in turn).
   */
  private keptEntries(dirPath: string, kept: PackedListing, from: number, to: number, pass: number, hold: boolean): DirEntry[] {
    const numberChild = this.inodes.childNumberer(dirPath, hold);
    const file: Mutable<FileNodeInfo> = { kind: 'file', size: 0, mtimeMs: 0, version: undefined };
    const entries = new Array<DirEntry>(to - from);
    for (let index = from; index < to; index += 1) {
      const name = kept.names[index] as string;
      let info: NodeInfo = DIR_NODE;
      if (!isFolderAt(kept, index)) {
        file.size = kept.sizes[index] as number;
        file.mtimeMs = kept.mtimesMs[index] as number;
        file.version = kept.versions[index];
        info = file;
      }
      const child = numberChild(name, pass, info.kind === 'file' ? info : undefined);
      if (child.stale) this.changes.sawStale(child.path);
      entries[index - from] = { name, attr: this.attrWith(child.ino, info) };
    }
    return entries;
  }

  /**
   * A second sub-folder of one parent opened in a row is a walk (`find`, `du`, `ImageFolder`):
   * the rest of the parent's tree is then fetched with one recursive listing, from the folder
   * opened now on, instead of one listing per folder.
   */
  private noteOpened(dirPath: string): void {
    if (dirPath === '/') return;
    const parent = parentPath(dirPath);
    const previous = this.lastOpenedChild.get(parent);
    this.lastOpenedChild.delete(parent);
    this.lastOpenedChild.set(parent, dirPath);
    if (this.lastOpenedChild.size > RECENT_PARENTS_MAX) this.lastOpenedChild.delete(this.lastOpenedChild.keys().next().value as string);
    const maxEntries = this.options.treePrefetchMaxEntries ?? DEFAULT_TREE_PREFETCH_MAX_ENTRIES;
    if (previous === undefined || previous === dirPath || maxEntries <= 0 || this.walk?.active || this.listings.has(dirPath)) return;
    const dirKey = listingPrefixForDir(this.prefix, dirPath);
    const generation = this.cache.generation;
    const walk: TreeWalk = new TreeWalk({
      listPage: (request) => this.client.listPage(request),
      rootPrefix: listingPrefixForDir(this.prefix, parent),
      startAfter: dirKey.slice(0, -1),
      warnings: this.warnings,
      pageSize: this.pageSize,
      maxEntries,
      maxUnread: Math.floor(this.listings.perFolderLimit * 2),
      onFolder: (folderPrefix, children) => {
        // A change meanwhile may concern a page already fetched: the walk ends, each folder lists itself.
        if (generation !== this.cache.generation) {
          walk.stop();
          return false;
        }
        const folderPath = normalizePath(folderPrefix.slice(this.prefix.length));
        this.cache.setFound(folderPath, DIR_NODE, generation);
        this.sawWholeFolder(folderPath, children.names);
        return this.listings.set(folderPath, children);
      },
    });
    this.walk = walk;
    void walk.run();
  }

  /** A whole listing of `dirPath` from a walk, by its names: its numbered names it lacks are gone. */
  private sawWholeFolder(dirPath: string, names: readonly string[]): void {
    const pass = (this.listingPasses += 1);
    // A folder without a number has no numbered children (their paths go through it): nothing to mark, nothing gone.
    if (this.inodes.knownIno(dirPath) === undefined) return;
    for (const name of names) this.inodes.markChildListed(dirPath, name, pass);
    this.sawListingEnd(dirPath, pass);
  }

  /** Listing pass `pass` of `dirPath` reached its end: the numbered names it did not mark (older than `numberedBefore`) are gone, here too. */
  private sawListingEnd(dirPath: string, pass: number, numberedBefore?: number): void {
    for (const gonePath of this.changes.sawCompleteListing(dirPath, pass, numberedBefore)) this.cache.invalidate(gonePath);
  }

  private listPage(request: ListPageRequest): Promise<ListPage> {
    const key = `${request.prefix ?? ''}\u0000${request.continuationToken ?? ''}\u0000${request.startAfter ?? ''}\u0000${request.pageSize ?? 0}`;
    return this.pageFlights.run(key, () => this.client.listPage(request));
  }

  /** `path` is gone from the store: the kernel's name of it and its folder's listings are stale. */
  private sawGone(path: string): void {
    this.changes.sawMissing(path);
    this.listings.invalidate(parentPath(path));
  }

  async open(path: string, flags: number, options?: OpenOptions): Promise<OpenResult> {
    const normalized = normalizePath(path);
    if (opensForWriting(flags)) {
      const writer = await this.openForWriting(normalized, flags, false);
      return { fh: writer.fh, keepCache: false };
    }
    return this.guard(async () => {
      const writer = this.newestWriter(normalized);
      if (writer !== undefined) return this.openBeingWritten(normalized, writer);
      const info = await this.lookup.resolve(normalized);
      if (info.kind !== 'file') throw new FsError(Errno.EISDIR, `is a directory: ${normalized}`);
      const ino = this.inodes.inoForPath(normalized);
      const snapshot: ObjectSnapshot = { key: objectKeyForPath(this.prefix, normalized), size: info.size, version: info.version };
      const handle = this.handles.add(ino, normalized, snapshot, this.readerFactory(this.client, snapshot));
      const keepCache = this.handles.noteOpenedVersion(ino, info);
      handle.kernelKeepsPages = keepCache;
      // The engine opens a block file the cache holds itself, off this thread; a missing one is fetched as usual.
      const wholeBlock = options?.engineReadsBlocks === true ? handle.reader.wholeBlock?.() : undefined;
      if (wholeBlock !== undefined) return { fh: handle.fh, keepCache, wholeBlock };
      // With its pages kept, the kernel may never ask: fetching ahead would be waste.
      if (!handle.kernelKeepsPages) await handle.reader.opened?.();
      return { fh: handle.fh, keepCache };
    });
  }

  async read(fh: number, target: Buffer, length: number, position: number): Promise<number> {
    return this.guard(async () => {
      const writer = this.writers.get(fh);
      if (writer !== undefined) return writer.read(target, length, position);
      const handle = this.handles.get(fh);
      if (handle.pinned !== undefined) return readPinned(handle.pinned, target, length, position);
      return handle.reader.read(target, length, position);
    });
  }

  async release(fh: number): Promise<void> {
    const writer = this.writers.get(fh);
    if (writer !== undefined) return this.releaseWriter(writer);
    this.handles.remove(fh)?.reader.close();
  }

  engineServed(fh: number, bytes: number): void {
    this.handles.find(fh)?.reader.engineServed?.(bytes);
  }

  /** The engine holds no block for `fh`: the fetch its open skipped starts now, ahead of the first read. */
  engineLacksBlock(fh: number): void {
    const handle = this.handles.find(fh);
    if (handle === undefined || handle.pinned !== undefined || handle.kernelKeepsPages) return;
    void Promise.resolve(handle.reader.opened?.()).catch((error: unknown) => this.logger.debug({ err: error }, 'fetching ahead of a first read failed'));
  }

  engineWrote(fh: number, position: number, bytes: number, errno: number): void {
    const writer = this.writers.get(fh);
    if (writer === undefined) return;
    writer.engineWrote(position, bytes, errno, this.now());
    this.counters.bytesWritten += bytes;
  }

  engineWritableEnd(fh: number): number | undefined {
    const writer = this.writers.get(fh);
    return writer?.engineWrites === true ? this.engineRoom(writer) : undefined;
  }

  /** Sets more of the staging area aside for an engine writing `writer` itself; returns how far it may write. */
  private engineRoom(writer: WriteHandle): number {
    return writer.file.setAside(Math.min(ENGINE_WRITE_ROOM_MAX_BYTES, Math.max(ENGINE_WRITE_ROOM_MIN_BYTES, writer.sizeBytes)));
  }

  /**
   * An open of `path` the engine may make alone: a file of this mount's metadata, not being written here, whose
   * whole object one block of the disk cache would hold. It holds as long as that metadata does, as `open` would
   * use it without asking the store; a block file missing or bad makes the engine ask `open` after all.
   */
  openOffer(path: string): OpenOffer | undefined {
    const ino = this.inodes.knownIno(path);
    return ino === undefined ? undefined : this.offerOf(path, ino);
  }

  openOfferByIno(ino: number): OpenOffer | undefined {
    // Before the path is built: a listing asks this of every entry it hands over.
    if (this.options.diskCache === undefined) return undefined;
    const path = this.inodes.pathForIno(ino);
    return path === undefined ? undefined : this.offerOf(path, ino);
  }

  private offerOf(path: string, ino: number): OpenOffer | undefined {
    if (this.options.diskCache === undefined || this.newestWriter(path) !== undefined) return undefined;
    const cached = this.cache.peekFile(path);
    if (cached === undefined) return undefined;
    const { info, expiresAtMs } = cached;
    const disk = this.diskObjectOf({ key: objectKeyForPath(this.prefix, path), size: info.size, version: info.version });
    if (disk === undefined || !(info.size > 0 && info.size <= disk.blockBytes)) return undefined;
    const block = disk.wholeBlock();
    if (block === undefined) return undefined;
    return { path: block.path, key: block.key, dataBytes: block.dataBytes, validForMs: expiresAtMs - this.now(), keepCache: this.handles.openedVersionIs(ino, info) };
  }

  /** Counted as the disk cache's hits: which file it was does not matter here. */
  engineServedOffer(_path: string, bytes: number): void {
    this.options.diskCache?.cache.engineServed(bytes);
  }

  engineServedOfferByIno(_ino: number, bytes: number): void {
    this.options.diskCache?.cache.engineServed(bytes);
  }

  cachedRange(fh: number, position: number, length: number): CachedRange | undefined {
    const handle = this.handles.find(fh);
    if (handle === undefined || handle.pinned !== undefined) return undefined;
    return handle.reader.cachedRange?.(position, length);
  }

  /**
   * The disk cache's key of an object at one version; none without a version (nothing would tell a changed
   * object's bytes apart). Blocks of its other versions go once this version misses (`DiskCache`).
   */
  private diskKeyOf(object: { key: string; version: string | undefined; size: number }): ObjectKey | undefined {
    const binding = this.options.diskCache;
    if (binding === undefined || object.version === undefined) return undefined;
    const { endpoint, bucket } = binding;
    return { endpoint, bucket, object: object.key, version: object.version, size: object.size, blockBytes: this.blockCache.blockSizeBytes };
  }

  private diskObjectOf(snapshot: ObjectSnapshot): CachedObject | undefined {
    const key = this.diskKeyOf(snapshot);
    if (key === undefined || this.options.diskCache === undefined) return undefined;
    return this.options.diskCache.cache.object(key);
  }

  /** A file seen changed or gone: its cached blocks of other versions, or all of them, go. */
  private sawObjectChange(path: string, now: FileNodeInfo | undefined): void {
    const binding = this.options.diskCache;
    if (binding === undefined) return;
    const objectKey = objectKeyForPath(this.prefix, path);
    const key = now === undefined ? undefined : this.diskKeyOf({ key: objectKey, version: now.version, size: now.size });
    if (key !== undefined) binding.cache.dropOtherVersions(key);
    else binding.cache.dropObject({ endpoint: binding.endpoint, bucket: binding.bucket, object: objectKey });
  }

  async unlink(path: string): Promise<void> {
    const normalized = normalizePath(path);
    const onlyHere = this.writersOf(normalized);
    if (onlyHere.length > 0 && onlyHere.every((writer) => !writer.inStore)) {
      // A new file nobody else can see yet: dropping it deletes nothing from the store.
      this.requireWrites('unlink', normalized);
      for (const writer of onlyHere) this.detachWriter(writer, true);
      this.listings.invalidate(parentPath(normalized));
      return;
    }
    if (!this.options.allowDelete) {
      throw new FsError(Errno.EPERM, `unlink ${normalized}: deleting needs --allow-delete`);
    }
    return this.guard(async () => {
      if (normalized === '/') throw new FsError(Errno.EISDIR, 'unlink /: is a directory');
      if (this.localFolders.has(normalized)) throw new FsError(Errno.EISDIR, `unlink ${normalized}: is a directory`);
      const info = await this.lookup.resolve(normalized);
      if (info.kind === 'dir') throw new FsError(Errno.EISDIR, `unlink ${normalized}: is a directory`);
      const ino = this.inodes.inoForPath(normalized);
      await this.pinOpenHandles(this.handles.openHandlesOf(ino));
      try {
        await this.client.delete(objectKeyForPath(this.prefix, normalized));
      } finally {
        // Whatever the DELETE did, what we cached about this path and its implied parents is doubtful.
        this.invalidateWithAncestors(normalized);
        for (const ancestor of ancestorPaths(normalized)) this.listings.invalidate(ancestor);
        this.handles.forgetVersion(ino);
        this.sawObjectChange(normalized, undefined);
      }
      this.cache.setNotFound(normalized);
    });
  }

  async create(path: string, _mode: number, flags: number, options?: CreateOptions): Promise<CreateResult> {
    const normalized = normalizePath(path);
    const writer = await this.openForWriting(normalized, flags | fsConstants.O_CREAT, true);
    if (options?.engineWritesStaged !== true) return { fh: writer.fh, attr: this.writerAttr(writer) };
    writer.engineWrites = true;
    return { fh: writer.fh, attr: this.writerAttr(writer), staged: { fd: writer.file.fd, writableEnd: this.engineRoom(writer) } };
  }

  async write(fh: number, data: Buffer, position: number): Promise<number> {
    const writer = this.writerOf(fh);
    return this.guard(async () => {
      const taken = await writer.write(data, position, this.now());
      this.counters.bytesWritten += taken;
      return taken;
    });
  }

  async flush(fh: number): Promise<void> {
    const writer = this.writers.get(fh);
    if (writer === undefined) {
      this.handles.get(fh);
      return;
    }
    await this.upload(writer);
    // What was written lands first; the write that failed is then reported, once, as a local filesystem's fsync does.
    const failed = writer.takeFailedWrite();
    if (failed !== 0) throw new FsError(failed, `write of ${writer.path} failed earlier (errno ${failed}); the bytes written before it were uploaded`);
  }

  async fsync(fh: number): Promise<void> {
    return this.flush(fh);
  }

  async mkdir(path: string, _mode: number): Promise<FileAttr> {
    const normalized = normalizePath(path);
    this.requireWrites('mkdir', normalized);
    return this.guard(async () => {
      if (normalized === '/' || this.localFolders.has(normalized) || this.writersOf(normalized).length > 0 || (await this.lookup.find(normalized)) !== undefined) {
        throw new FsError(Errno.EEXIST, `mkdir ${normalized}: exists`);
      }
      this.localFolders.add(normalized);
      this.madeHere.set(normalized, true);
      this.cache.invalidate(normalized);
      this.listings.invalidate(parentPath(normalized));
      return this.attrOf(normalized, DIR_NODE);
    });
  }

  /**
   * A folder made here goes while empty; a folder of the store has no object of its own (only, at most, a
   * `name/` marker, deleted with it), so it goes when nothing is listed under it.
   */
  async rmdir(path: string): Promise<void> {
    const normalized = normalizePath(path);
    this.requireWrites('rmdir', normalized);
    return this.guard(async () => {
      if (normalized === '/') throw new FsError(Errno.EBUSY, 'rmdir /: the mount root');
      const local = this.localFolders.has(normalized);
      if (!local) {
        const info = await this.lookup.find(normalized);
        if (info?.kind === 'file') throw new FsError(Errno.ENOTDIR, `rmdir ${normalized}: not a directory`);
      }
      const notEmpty = new FsError(Errno.ENOTEMPTY, `rmdir ${normalized}: not empty`);
      if (this.localFolders.hasChildren(normalized) || this.hasWritersIn(normalized)) throw notEmpty;
      const dirPrefix = listingPrefixForDir(this.prefix, normalized);
      const { children, marker } = await this.storeChildren(dirPrefix);
      if (children) throw notEmpty;
      if (marker) await this.client.delete(dirPrefix);
      this.localFolders.remove(normalized);
      this.invalidateWithAncestors(normalized);
      for (const ancestor of ancestorPaths(normalized)) this.listings.invalidate(ancestor);
      this.listings.invalidate(normalized);
      this.cache.setNotFound(normalized);
    });
  }

  /**
   * A file only: the store's rename-obj, or, for a file being written that is not in the store yet, a new
   * target for its upload. Open handles follow it. A folder would be one rename per object, not atomic:
   * EXDEV, so `mv` copies and deletes instead.
   */
  async rename(from: string, to: string, flags: number): Promise<void> {
    const source = normalizePath(from);
    const target = normalizePath(to);
    const writes = this.requireWrites('rename', source);
    if ((flags & RENAME_EXCHANGE) !== 0 || (flags & ~RENAME_NOREPLACE) !== 0) throw new FsError(Errno.EINVAL, `rename ${source}: flags ${flags} not supported`);
    return this.guard(async () => {
      if (source === '/' || this.localFolders.has(source)) throw new FsError(Errno.EXDEV, `rename ${source}: folders cannot be renamed (copy and delete them)`);
      const sourceWriters = this.writersOf(source);
      const sourceInfo = await this.lookup.find(source);
      if (sourceInfo?.kind === 'dir') throw new FsError(Errno.EXDEV, `rename ${source}: folders cannot be renamed (copy and delete them)`);
      if (sourceInfo === undefined && sourceWriters.length === 0) throw new FsError(Errno.ENOENT, `rename ${source}: no such file`);
      if (source === target) return;
      if (this.localFolders.has(target)) throw new FsError(Errno.EISDIR, `rename ${source} → ${target}: is a directory`);
      const targetInfo = this.writersOf(target).length > 0 ? { kind: 'file' as const } : await this.lookup.find(target);
      if (targetInfo?.kind === 'dir') throw new FsError(Errno.EISDIR, `rename ${source} → ${target}: is a directory`);
      if (targetInfo !== undefined) {
        if ((flags & RENAME_NOREPLACE) !== 0) throw new FsError(Errno.EEXIST, `rename ${source} → ${target}: exists`);
        if (!writes.allowOverwrite) throw new FsError(Errno.EPERM, `rename ${source} → ${target}: replacing an object needs --allow-overwrite`);
      }
      await Promise.all(sourceWriters.map((writer) => writer.idle()));
      const fromKey = objectKeyForPath(this.prefix, source);
      const toKey = objectKeyForPath(this.prefix, target);
      const inStore = sourceInfo !== undefined || sourceWriters.some((writer) => writer.inStore);
      try {
        if (inStore) await this.client.rename(fromKey, toKey);
      } finally {
        this.invalidateWithAncestors(source);
        this.invalidateWithAncestors(target);
        for (const ancestor of [...ancestorPaths(source), ...ancestorPaths(target)]) this.listings.invalidate(ancestor);
      }
      for (const writer of sourceWriters) await this.retargetWriter(writer, target, toKey);
      this.retargetReaders(source, fromKey, toKey);
      this.inodes.rename(source, target);
      if (this.madeHere.delete(source)) this.madeHere.set(target, true);
      if (inStore) this.localFolders.landed(target);
      this.cache.setNotFound(source);
    });
  }

  /**
   * Sizes: a file open for writing is truncated in its staging file; an object is replaced by an empty one
   * (`truncate -s 0`, with `--allow-overwrite`); any other size of an object is ENOTSUP. Times are accepted
   * (the store keeps its own). Modes and owners are not kept by the store either: on what this mount made
   * (`cp -p`, `rsync -a` set them right after writing) any change is accepted; elsewhere only the value shown,
   * any other is EPERM.
   */
  async setattr(path: string, changes: AttrChanges, fh?: number): Promise<FileAttr> {
    const normalized = normalizePath(path);
    const writes = this.options.writes;
    if (writes === undefined) throw refusedWriteError(changes.size !== undefined ? 'truncate' : changes.mode !== undefined ? 'chmod' : changes.uid !== undefined || changes.gid !== undefined ? 'chown' : 'utimens', normalized, this.options.allowDelete);
    return this.guard(async () => {
      const writer = (fh === undefined ? undefined : this.writers.get(fh)) ?? this.newestWriter(normalized);
      const current = await this.getattr(normalized);
      if (changes.size !== undefined) {
        if (current.kind === 'dir') throw new FsError(Errno.EISDIR, `truncate ${normalized}: is a directory`);
        if (writer !== undefined) await writer.truncate(changes.size, this.now());
        else if (changes.size !== current.size) await this.truncateObject(normalized, changes.size, writes.allowOverwrite ?? false);
      }
      const madeHere = writer !== undefined || this.madeHere.has(normalized) || this.localFolders.has(normalized);
      if (!madeHere) {
        const modeChanges = changes.mode !== undefined && (changes.mode & 0o7777) !== (current.mode & 0o7777);
        const uidChanges = changes.uid !== undefined && changes.uid !== UNCHANGED_ID && changes.uid !== current.uid;
        const gidChanges = changes.gid !== undefined && changes.gid !== UNCHANGED_ID && changes.gid !== current.gid;
        if (modeChanges) throw new FsError(Errno.EPERM, `chmod ${normalized}: the store keeps no modes; only files made through this mount take any`);
        if (uidChanges || gidChanges) throw new FsError(Errno.EPERM, `chown ${normalized}: the store keeps no owners; only files made through this mount take any`);
      }
      if (writer !== undefined && changes.mtimeMs !== undefined) writer.mtimeMs = changes.mtimeMs;
      return this.getattr(normalized);
    });
  }

  /** The write options, or the refusal of a read-only filesystem. */
  private requireWrites(op: RefusedOp | 'unlink', path: string): WriteOptions {
    const writes = this.options.writes;
    if (writes === undefined) throw refusedWriteError(op === 'unlink' ? 'write' : op, path, this.options.allowDelete);
    return writes;
  }

  /**
   * A write handle on `path`: a new name (`create`), or an existing file the policy lets the open replace
   * (`overwriteRefusal`). Each gets a staging file of its own; the upload happens at flush, fsync and release
   * (a new name's bytes stream while written, `AppendStream`).
   */
  private async openForWriting(path: string, flags: number, creating: boolean): Promise<WriteHandle> {
    const writes = this.requireWrites(creating ? 'create' : 'write', path);
    return this.guard(async () => {
      if (path === '/' || this.localFolders.has(path)) throw new FsError(Errno.EISDIR, `open ${path}: is a directory`);
      const pending = this.writersOf(path);
      const info = await this.lookup.find(path);
      if (info?.kind === 'dir') throw new FsError(Errno.EISDIR, `open ${path}: is a directory`);
      const exists = info !== undefined || pending.length > 0;
      if (exists) {
        if (creating && (flags & fsConstants.O_EXCL) !== 0) throw new FsError(Errno.EEXIST, `create ${path}: exists`);
        const refusal = overwriteRefusal(flags, writes.allowOverwrite ?? false, path);
        if (refusal !== undefined) throw refusal;
      } else if (!creating && (flags & fsConstants.O_CREAT) === 0) {
        throw new FsError(Errno.ENOENT, `open ${path}: no such file`);
      }
      const key = objectKeyForPath(this.prefix, path);
      const file = await writes.staging.newFile({ bucket: writes.bucketLabel ?? this.client.bucket.name, key });
      const writer = new WriteHandle(this.handles.takeNumber(), path, key, file, this.now(), exists ? undefined : this.client);
      writer.inStore = info !== undefined || pending.some((other) => other.inStore);
      this.writers.set(writer.fh, writer);
      this.attachWriter(writer);
      this.madeHere.set(path, true);
      this.listings.invalidate(parentPath(path));
      return writer;
    });
  }

  /** Uploads a dirty write handle; the object is then in this mount's listings and stats. EIO when it did not land. */
  private async upload(writer: WriteHandle): Promise<void> {
    if (writer.discarded) return;
    let landed: Landed | undefined;
    try {
      landed = await writer.sync(this.client);
    } catch (error) {
      this.counters.uploadFailures += 1;
      const cause = toFsError(error);
      this.logger.error({ path: writer.path, key: writer.key, staging: writer.file.path, err: cause.message }, 'upload failed; the written bytes are in the staging file');
      throw new FsError(Errno.EIO, `upload of ${writer.path} failed (${cause.message}); its bytes are kept in ${writer.file.path}`, { cause: error });
    }
    if (landed !== undefined) this.sawLanded(landed, writer);
  }

  private sawLanded(landed: Landed, writer: WriteHandle | undefined): void {
    this.counters.uploads += 1;
    if (writer !== undefined) writer.inStore = true;
    const { path } = landed;
    this.invalidateWithAncestors(path);
    for (const ancestor of ancestorPaths(path)) this.listings.invalidate(ancestor);
    this.cache.setFound(path, { kind: 'file', size: landed.sizeBytes, mtimeMs: this.now(), version: landed.version });
    this.localFolders.landed(path);
    const ino = this.inodes.knownIno(path);
    if (ino !== undefined) this.handles.forgetVersion(ino);
    // Other readers' cached pages are of the object this upload replaced.
    if (writer === undefined || this.writersOf(path).length > 1 || (ino !== undefined && this.handles.openHandlesOf(ino).length > 0)) this.changes.sawStale(path);
  }

  /**
   * The last close: a handle never flushed since its last write uploads now (best effort: a failure is
   * logged); its staging file goes once its bytes are in the store, else it is kept and its path logged.
   */
  private async releaseWriter(writer: WriteHandle): Promise<void> {
    if (!this.writers.delete(writer.fh)) return;
    if (writer.dirty && !writer.failedSinceWrite && !writer.discarded) await this.upload(writer).catch(() => {});
    await writer.idle();
    await writer.stopStream();
    this.detachWriter(writer);
    const kept = await writer.file.close(!writer.dirty || writer.discarded).catch((error: unknown) => {
      this.logger.error({ path: writer.path, staging: writer.file.path, err: (error as Error).message }, 'cannot close a staging file');
      return writer.file.path;
    });
    if (kept !== undefined) this.logger.error({ path: writer.path, key: writer.key, staging: kept }, 'closed without its bytes in the store; the staging file is kept');
  }

  /** A read-only open of a file this mount is writing reads what is written so far. */
  private async openBeingWritten(path: string, writer: WriteHandle): Promise<OpenResult> {
    const file = await writer.file.openForReading();
    const ino = this.inodes.inoForPath(path);
    const handle = this.handles.add(ino, path, { key: writer.key, size: writer.sizeBytes, version: undefined }, stagedFileReader(file, () => writer.sizeBytes));
    return { fh: handle.fh, keepCache: false };
  }

  private async truncateObject(path: string, sizeBytes: number, allowOverwrite: boolean): Promise<void> {
    if (!allowOverwrite) throw new FsError(Errno.EPERM, `truncate ${path}: replacing an object needs --allow-overwrite`);
    if (sizeBytes !== 0) throw new FsError(Errno.ENOTSUP, `truncate ${path}: changing part of an object is not supported (only to 0 bytes)`);
    const key = objectKeyForPath(this.prefix, path);
    const { version } = await this.client.putFrom(key, { sizeBytes: 0, open: () => (async function* () {})() });
    this.sawLanded({ key, path, sizeBytes: 0, version }, undefined);
  }

  /** Whether the store has children under `dirPrefix` other than its marker object, and whether it has the marker. */
  private async storeChildren(dirPrefix: string): Promise<{ children: boolean; marker: boolean }> {
    let continuationToken = '';
    let marker = false;
    for (;;) {
      const page = await this.client.listPage({ prefix: dirPrefix, recursive: false, pageSize: 2, continuationToken });
      for (const entry of page.entries) {
        if (entry.name === dirPrefix) marker = true;
        else return { children: true, marker };
      }
      if (page.continuationToken === '') return { children: false, marker };
      continuationToken = page.continuationToken;
    }
  }

  private async retargetWriter(writer: WriteHandle, path: string, key: string): Promise<void> {
    this.detachWriter(writer);
    writer.path = path;
    writer.key = key;
    this.attachWriter(writer);
    await writer.file.retarget({ bucket: this.options.writes?.bucketLabel ?? this.client.bucket.name, key });
  }

  /** Open read handles of a renamed object read it under its new key (its new version unknown: not checked). */
  private retargetReaders(path: string, fromKey: string, toKey: string): void {
    const ino = this.inodes.knownIno(path);
    if (ino === undefined) return;
    for (const handle of this.handles.openHandlesOf(ino)) {
      if (handle.pinned !== undefined || handle.snapshot.key !== fromKey) continue;
      handle.reader.close();
      handle.snapshot = { ...handle.snapshot, key: toKey, version: undefined };
      handle.reader = this.readerFactory(this.client, handle.snapshot);
    }
  }

  private writerOf(fh: number): WriteHandle {
    const writer = this.writers.get(fh);
    if (writer !== undefined) return writer;
    this.handles.get(fh);
    throw new FsError(Errno.EBADF, `handle ${fh} is not open for writing`);
  }

  private writersOf(path: string): WriteHandle[] {
    return this.writersByPath.get(path) ?? [];
  }

  private newestWriter(path: string): WriteHandle | undefined {
    return this.writersByPath.get(path)?.at(-1);
  }

  private attachWriter(writer: WriteHandle): void {
    const list = this.writersByPath.get(writer.path);
    if (list === undefined) this.writersByPath.set(writer.path, [writer]);
    else list.push(writer);
  }

  /** The handle no longer shows at its path (released, or unlinked while open: then it never uploads). */
  private detachWriter(writer: WriteHandle, discard = false): void {
    if (discard) writer.discarded = true;
    const list = this.writersByPath.get(writer.path);
    if (list === undefined) return;
    const rest = list.filter((other) => other !== writer);
    if (rest.length === 0) this.writersByPath.delete(writer.path);
    else this.writersByPath.set(writer.path, rest);
  }

  private hasWritersIn(dirPath: string): boolean {
    const prefix = dirPath === '/' ? '/' : `${dirPath}/`;
    for (const path of this.writersByPath.keys()) if (path.startsWith(prefix)) return true;
    return false;
  }

  /** Children of `dirPath` only this mount has: folders made here and new files being written, by name. */
  private childrenOnlyHere(dirPath: string): ListedChild[] {
    const children: ListedChild[] = this.localFolders.childrenOf(dirPath).map((name) => ({ name, info: DIR_NODE }));
    for (const [path, list] of this.writersByPath) {
      const writer = list.at(-1);
      if (writer === undefined || writer.inStore || parentPath(path) !== dirPath) continue;
      children.push({ name: path.slice(path.lastIndexOf('/') + 1), info: { kind: 'file', size: writer.sizeBytes, mtimeMs: writer.mtimeMs, version: undefined } });
    }
    return children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private writerAttr(writer: WriteHandle): FileAttr {
    return this.attrWith(this.inodes.inoForPath(writer.path), { kind: 'file', size: writer.sizeBytes, mtimeMs: writer.mtimeMs, version: undefined });
  }

  async statfs(_path: string): Promise<StatfsInfo> {
    return STATFS;
  }

  async refuseWrite(op: RefusedOp, path: string): Promise<never> {
    const normalized = normalizePath(path);
    if (this.options.writes !== undefined && (op === 'symlink' || op === 'link')) throw unsupportedOpError(op, normalized);
    throw refusedWriteError(op, normalized, this.options.allowDelete);
  }

  /** Drops what expired: cached names and listings past their TTL, numbers nobody used for a TTL. */
  sweep(): void {
    this.cache.sweep();
    this.listings.sweep();
    this.inodes.sweepIdleBefore(this.now() - Math.max(this.options.metadataTtlMs, this.options.negativeMetadataTtlMs));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.walk?.stop();
    for (const handle of this.handles.all()) this.handles.remove(handle.fh)?.reader.close();
    // What the kernel never released uploads as a release would; what does not land stays in the staging area.
    await Promise.all([...this.writers.values()].map((writer) => this.releaseWriter(writer)));
    this.cache.clear();
    this.listings.clear();
    if (this.ownsBlockCache) this.blockCache.close();
  }

  readStats(): ReadStats {
    return this.blockCache.stats();
  }

  writeStats(): WriteStats {
    return { ...this.counters };
  }

  metadataStats(): MetadataStats {
    return { inodes: this.inodes.size, heldInodes: this.inodes.heldCount, metadataEntries: this.cache.size, listedEntries: this.listings.size };
  }

  setChangeListener(listener: FsChangeListener | undefined): void {
    this.changes.setListener(listener);
  }

  lookupChild(parentIno: number, name: string): Promise<FileAttr> {
    return this.inodeView.lookupChild(parentIno, name);
  }

  attrByIno(ino: number): Promise<FileAttr> {
    return this.inodeView.attrByIno(ino);
  }

  forget(ino: number, count: number): void {
    this.inodeView.forget(ino, count);
  }

  holdIno(ino: number): void {
    this.inodeView.holdIno(ino);
  }

  settleIno(ino: number, lookupsHandedOut: number): void {
    this.inodeView.settleIno(ino, lookupsHandedOut);
  }

  openDirByIno(ino: number): Promise<DirStream> {
    return this.inodeView.openDirByIno(ino);
  }

  openByIno(ino: number, flags: number, options?: OpenOptions): Promise<OpenResult> {
    return this.inodeView.openByIno(ino, flags, options);
  }

  unlinkChild(parentIno: number, name: string): Promise<void> {
    return this.inodeView.unlinkChild(parentIno, name);
  }

  createChild(parentIno: number, name: string, mode: number, flags: number, options?: CreateOptions): Promise<CreateResult> {
    return this.inodeView.createChild(parentIno, name, mode, flags, options);
  }

  mkdirChild(parentIno: number, name: string, mode: number): Promise<FileAttr> {
    return this.inodeView.mkdirChild(parentIno, name, mode);
  }

  rmdirChild(parentIno: number, name: string): Promise<void> {
    return this.inodeView.rmdirChild(parentIno, name);
  }

  renameChild(parentIno: number, name: string, newParentIno: number, newName: string, flags: number): Promise<void> {
    return this.inodeView.renameChild(parentIno, name, newParentIno, newName, flags);
  }

  setattrByIno(ino: number, changes: AttrChanges, fh?: number): Promise<FileAttr> {
    return this.inodeView.setattrByIno(ino, changes, fh);
  }

  /** The attributes of `path`, numbering it. */
  private attrOf(path: string, info: NodeInfo): FileAttr {
    const ino = this.inodes.inoForPath(path);
    if (info.kind === 'file') this.changes.sawFile(path, info);
    return this.attrWith(ino, info);
  }

  /** The attributes of what `info` describes, under inode number `ino`. */
  private attrWith(ino: number, info: NodeInfo): FileAttr {
    if (info.kind === 'dir') {
      return { ino, kind: 'dir', size: 0, mtimeMs: this.mountTimeMs, mode: S_IFDIR | this.dirMode, uid: this.uid, gid: this.gid, nlink: 2 };
    }
    return {
      ino,
      kind: 'file',
      size: info.size,
      mtimeMs: info.mtimeMs > 0 ? info.mtimeMs : this.mountTimeMs,
      mode: S_IFREG | this.fileMode,
      uid: this.uid,
      gid: this.gid,
      nlink: 1,
    };
  }

  /**
   * Before an object goes, its open files get the whole object in memory (one GET shared by
   * the handles of one version), so they keep reading until release. Too big: they fail later.
   */
  private async pinOpenHandles(handles: FileHandle[]): Promise<void> {
    const maxBytes = this.options.unlinkPinMaxBytes ?? DEFAULT_UNLINK_PIN_MAX_BYTES;
    const fetched = new Map<string, Promise<Buffer>>();
    await Promise.all(
      handles.map(async (handle) => {
        if (handle.pinned !== undefined) return;
        const { snapshot } = handle;
        if (snapshot.size > maxBytes) {
          this.logger.warn({ path: handle.path, sizeBytes: snapshot.size, maxBytes }, 'unlinked file is open and too large to keep; its reads will fail');
          return;
        }
        const identity = `${snapshot.version ?? ''}\u0000${snapshot.size}`;
        let data = fetched.get(identity);
        if (data === undefined) {
          data = snapshot.size === 0 ? Promise.resolve(Buffer.alloc(0)) : fetchRange(this.client, snapshot, 0, snapshot.size);
          fetched.set(identity, data);
        }
        try {
          handle.pinned = await data;
        } catch (error) {
          this.logger.warn({ path: handle.path, err: toFsError(error).message }, 'could not keep an unlinked open file readable');
        }
      }),
    );
  }

  private invalidateWithAncestors(path: string): void {
    this.cache.invalidate(path);
    for (const ancestor of ancestorPaths(path)) this.cache.invalidate(ancestor);
  }

  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw toFsError(error);
    }
  }
}

/** How often expired entries are swept: a quarter of the TTL, within 0.5–30 s (a sweep of 100,000 entries takes milliseconds). */
function sweepIntervalMs(metadataTtlMs: number): number {
  return Math.min(30_000, Math.max(500, Math.floor(metadataTtlMs / 4)));
}

function readPinned(data: Buffer, target: Buffer, length: number, position: number): number {
  if (position >= data.length || length <= 0) return 0;
  return data.copy(target, 0, position, Math.min(data.length, position + length, position + target.length));
}
