import { existsSync, promises as fsp, readdir } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import type { PooledBuffer } from '../buffer-pool.js';
import type { BucketRef } from '../../store/object-store.js';
import type { CachedRange, WholeBlock } from '../types.js';
import {
  BLOCKS_DIR_NAME,
  BlockFileError,
  PIECE_BYTES,
  RECENT_KEYS,
  SHARD_FOLDERS,
  TEMP_PREFIX,
  blockFilePath,
  blockIndexOf,
  encodeKey,
  objectStem,
  objectStemOf,
  piecesCovering,
  piecesMatch,
  shardFolder,
  versionStem,
  type BlockKey,
  type ObjectName,
} from './block-file.js';
import { writeBlockFile, writeBlockFiles, type WriteOutcome } from './block-writer.js';
import { IdentityMemo } from './identity-memo.js';
import { DEFAULT_CACHE_LIMIT, type CacheLimit } from './cache-limit.js';
import { CacheSpace, type EvictionReport } from './cache-space.js';
import { OpenBlocks, type OpenBlock } from './open-blocks.js';

/** Counters of the disk cache, for /metrics. */
export interface DiskCacheStats {
  readonly enabled: boolean;
  readonly hits: number;
  readonly misses: number;
  readonly bytesServed: number;
  readonly evictions: number;
  readonly checksumFailures: number;
  readonly sizeBytes: number;
  /** Blocks not written because the writes behind were at their bound, or the cache was off. */
  readonly writesSkipped: number;
  /** Blocks whose write behind failed (the read that fetched them was served all the same). */
  readonly writesFailed: number;
}

export interface DiskCacheOptions {
  readonly dir: string;
  readonly limit?: CacheLimit;
  /** The mount's block size: the unit of what is written. */
  readonly blockBytes: number;
  /** Bytes of fetched blocks held for their writes to the cache at most; past it a block is not cached. */
  readonly writeBehindMaxBytes: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

/** Where one version's files are: in the shard `folder`, the names starting with `stem`; the object's with `objectStem`. */
interface VersionFiles {
  readonly folder: string;
  readonly objectStem: string;
  readonly stem: string;
  /** Names the version (its sweep is done once per mount). */
  readonly memo: string;
  /** Names the object (one sweep waits per object: for the version learnt last). */
  readonly objectMemo: string;
}

/** What names an object's blocks: a block key without its index. */
export type ObjectKey = Omit<BlockKey, 'blockIndex'>;

/** How a bucket is named in block keys: the same for every mount and `bucketfs prefetch` of it. */
export function cacheBucketName(bucket: BucketRef): string {
  return `${bucket.provider ?? 'ais'}://${bucket.namespace === undefined ? '' : `${bucket.namespace}#`}${bucket.name}`;
}

/** How an endpoint is named in block keys (a trailing slash does not make another cluster). */
export function cacheEndpointName(endpoint: string): string {
  return endpoint.replace(/\/+$/, '');
}

/** Of the read path's memory, the share that blocks waiting for their write to the disk cache may hold. */
export function writeBehindBytesFor(cacheSizeBytes: number): number {
  return Math.min(WRITE_BEHIND_MAX_BYTES, Math.floor(cacheSizeBytes / 4));
}
const WRITE_BEHIND_MAX_BYTES = 64 * 1024 * 1024;

export class CacheDirError extends Error {
  constructor(dir: string, detail: string) {
    super(`--cache-dir ${dir}: ${detail}`);
    this.name = 'CacheDirError';
  }
}

/** Errors of the cache's disk that end caching for this mount (the disk is full, failing or read-only). */
const DISABLING_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EACCES', 'EPERM', 'ENXIO', 'ENODEV', 'ESTALE', 'EFBIG']);
/** A hit marks its file used at most this often, so that eviction sees it without a write per read. */
const TOUCH_INTERVAL_MS = 60_000;
/**
 * Blocks after one the engine reads that are opened ahead of its reads (each holds a descriptor while open): more
 * than the native engine is lent at once (src/fuse/native-cache-hits.ts), so that the next lend finds them open.
 */
const OPEN_AHEAD_BLOCKS = 24;
/** Objects whose other versions were already dropped, remembered to do it once. */
const CHECKED_VERSIONS_MAX = 10_000;
/** Writes behind at once: each a job on the thread pool, which the reads' own calls to the disk share. */
const FILL_WRITERS = 2;
/**
 * Blocks one job of the native writer writes at most, and how long a writer waits for the fills to gather before
 * its first job: each job costs the JS thread a wake-up of a pool thread, a completion and a promise, whatever
 * it writes, and fills come one per file read.
 */
export const FILL_BATCH_BLOCKS = 16;
const FILL_GATHER_MS = 10;
/** Objects whose derived names are kept (`DiskCache.object`): more than the files opened at once. */
const OBJECTS_KEPT_MAX = 4_096;
/** Version sweeps waiting for the next turn (each turn lists each shard they fall in once). */
const PENDING_SWEEPS_MAX = 4_096;
/** A block found missing is not looked for again this soon (a miss is always safe: at worst a fetch again). */
const MISSING_MEMO_MS = 1_000;
const MISSING_MEMO_MAX = 4_096;
/** A shard's listing serves `listedBlocks` of its other objects this long (a hint: every block it names is checked). */
const SHARD_LISTING_TTL_MS = 10_000;
const SHARD_LISTINGS_MAX = 256;

/**
 * The persistent cache of blocks on local disk, shared by the mounts that name the same dir (see
 * `block-file.ts` for a block's file, `cache-space.ts` for the size they share). A read path asks it after the
 * memory cache and before the store; blocks fetched from the store are written behind, never delaying the
 * reader. Any failure of the disk is a miss: a full or failing disk turns caching off with one warning.
 */
export class DiskCache {
  readonly blocksDir: string;
  readonly blockBytes: number;
  private readonly files = new OpenBlocks();
  private readonly space: CacheSpace;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly writeBehindMaxBytes: number;
  /** Version memos whose sweep is done or waiting; forgotten all at once when full (a sweep again is only work). */
  private readonly checkedVersions = new Set<string>();
  /**
   * Block files just found missing, with when (`performance.now()`): the read after an engine's or a warm open's
   * miss does not look again. Forgotten all at once when full: a plain map costs a fill a fraction of a timed LRU's.
   */
  private readonly missing = new Map<string, number>();
  /** The objects asked for lately, by name (`object`). */
  private readonly objects = new Map<string, CachedObject>();
  /** Names of shards listed lately, by object stem. */
  private readonly shardListings = new LRUCache<string, Promise<ReadonlyMap<string, readonly string[]>>>({ max: SHARD_LISTINGS_MAX, ttl: SHARD_LISTING_TTL_MS });
  private readonly writing = new Set<string>();
  /** Bad files being removed: not opened again meanwhile. */
  private readonly dropping = new Set<string>();
  private readonly pendingWrites = new Set<Promise<void>>();
  /** Writes behind not started yet, in the order their blocks came. */
  private readonly fills: Fill[] = [];
  private fillsRunning = 0;
  /** Objects whose other versions are to be dropped, by their object memo. */
  private readonly pendingSweeps = new Map<string, VersionFiles>();
  /** Paths and version files of the key objects used lately (`CachedObject` keeps its keys). */
  private readonly paths = new IdentityMemo<BlockKey, string>(RECENT_KEYS);
  private readonly versions = new IdentityMemo<ObjectKey, VersionFiles>(RECENT_KEYS);
  private readonly timer: NodeJS.Timeout;
  private pendingWriteBytes = 0;
  private enabled = true;
  private counters = { hits: 0, misses: 0, bytesServed: 0, evictions: 0, checksumFailures: 0, writesSkipped: 0, writesFailed: 0 };

  private constructor(
    readonly dir: string,
    options: DiskCacheOptions,
  ) {
    this.blocksDir = join(dir, BLOCKS_DIR_NAME);
    this.blockBytes = options.blockBytes;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
    this.writeBehindMaxBytes = options.writeBehindMaxBytes;
    this.space = new CacheSpace(
      this.blocksDir,
      options.limit ?? DEFAULT_CACHE_LIMIT,
      options.blockBytes,
      (report: EvictionReport) => {
        this.counters.evictions += report.files;
      },
      (error) => this.logger.warn({ err: (error as Error).message }, 'disk cache: could not update the shared cache size'),
      this.now,
    );
    // Other mounts' writes and a disk filling from elsewhere are seen at least this often.
    this.timer = setInterval(() => {
      this.sweepVersions();
      void this.space.sync();
    }, SPACE_CHECK_INTERVAL_MS);
    this.timer.unref();
  }

  /** Opens (creating) the cache in `options.dir`; a dir this process cannot write is a `CacheDirError`. */
  static async open(options: DiskCacheOptions): Promise<DiskCache> {
    const blocksDir = join(options.dir, BLOCKS_DIR_NAME);
    try {
      await fsp.mkdir(blocksDir, { recursive: true });
      const probe = join(blocksDir, `${TEMP_PREFIX}probe-${process.pid}`);
      await fsp.writeFile(probe, 'probe');
      await fsp.rm(probe);
    } catch (error) {
      const code = (await firstMkdirFailure(blocksDir)) ?? (error as NodeJS.ErrnoException).code;
      throw new CacheDirError(options.dir, `not writable (${code ?? (error as Error).message})`);
    }
    await makeShardFolders(blocksDir);
    const cache = new DiskCache(options.dir, options);
    // The first turn may recount a large dir: the mount does not wait for it.
    void cache.space.sync();
    return cache;
  }

  /**
   * The blocks of one version of one object: the same `CachedObject` for the same key while it is kept, so that
   * a file's offer, its open and its fill derive its block's names once, not once each.
   */
  object(key: ObjectKey): CachedObject {
    const known = this.objects.get(key.object);
    if (known !== undefined && sameObjectKey(known.key, key)) return known;
    const object = new CachedObject(this, key);
    if (this.objects.size >= OBJECTS_KEPT_MAX) this.objects.clear();
    this.objects.set(key.object, object);
    return object;
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  stats(): DiskCacheStats {
    return { enabled: this.enabled, ...this.counters, sizeBytes: this.space.sizeBytes };
  }

  /** Drops every block of an object (it was deleted, or changed and its new version is unknown). */
  dropObject(key: ObjectName): void {
    const folder = join(this.blocksDir, shardFolder(key));
    const stem = objectStem(key);
    this.files.forgetUnder(join(folder, stem));
    this.background(this.removeFiles(folder, (name) => name.startsWith(stem)));
  }

  /**
   * Drops the blocks of an object's versions other than `key`'s (once per version per mount), soon: at the
   * next turn at the shared size or `settled`, which list each shard the waiting objects fall in once. Other
   * versions are never served meanwhile (their keys differ).
   */
  dropOtherVersions(key: ObjectKey): void {
    const version = this.versionOf(key);
    if (!this.enabled || this.checkedVersions.has(version.memo)) return;
    if (this.checkedVersions.size >= CHECKED_VERSIONS_MAX) this.checkedVersions.clear();
    this.checkedVersions.add(version.memo);
    // The version learnt last is the one kept: a sweep waiting for an earlier one is replaced.
    this.pendingSweeps.set(version.objectMemo, version);
    if (this.pendingSweeps.size > PENDING_SWEEPS_MAX) this.sweepVersions();
  }

  /** The version sweeps waiting, now: one listing per shard. */
  private sweepVersions(): void {
    const byShard = new Map<string, Map<string, string>>();
    for (const { folder, objectStem: object, stem } of this.pendingSweeps.values()) {
      let kept = byShard.get(folder);
      if (kept === undefined) byShard.set(folder, (kept = new Map()));
      kept.set(object, stem);
    }
    this.pendingSweeps.clear();
    for (const [folder, kept] of byShard) {
      this.background(
        this.removeFiles(folder, (name) => {
          const stem = kept.get(objectStemOf(name));
          return stem !== undefined && !name.startsWith(stem);
        }),
      );
    }
  }

  /** Where an object's files are, which of them are of `key`'s version, and the memos naming both. */
  private versionOf(key: ObjectKey): VersionFiles {
    return this.versions.get(key, this.deriveVersion);
  }

  private readonly deriveVersion = (key: ObjectKey): VersionFiles => {
    const folder = `${this.blocksDir}/${shardFolder(key)}`;
    const object = objectStem(key);
    const stem = versionStem(key);
    return { folder, objectStem: object, stem, memo: `${folder}\u0000${stem}`, objectMemo: `${folder}\u0000${object}` };
  };

  private async removeFiles(folder: string, doomed: (name: string) => boolean): Promise<void> {
    const names = await fsp.readdir(folder).catch(() => []);
    this.shardListings.delete(folder);
    let removed = 0;
    for (const name of names) {
      if (name.startsWith(TEMP_PREFIX) || !doomed(name)) continue;
      const path = join(folder, name);
      this.files.forget(path);
      const stats = await fsp.lstat(path).catch(() => undefined);
      if (stats === undefined) continue;
      if (await fsp.unlink(path).then(() => true, () => false)) removed += stats.size;
    }
    if (removed > 0) this.space.changed(-removed);
  }

  /** Whole block `key` into `into` (exactly its length), its pieces checked; false on a miss. */
  async readBlock(key: BlockKey, into: Buffer): Promise<boolean> {
    const entry = await this.openBlock(key);
    if (entry === undefined || entry.header.dataBytes !== into.length) return this.miss(entry, key);
    this.files.use(entry);
    try {
      const { bytesRead } = await entry.file.read(into, 0, into.length, entry.header.dataOffset);
      if (bytesRead !== into.length || !piecesMatch(entry.header, 0, into)) return this.corrupt(entry);
      this.hit(entry, into.length);
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    } finally {
      this.files.release(entry);
    }
  }

  /**
   * Bytes `[from, from + length)` of block `key` (within it) into `target` at `targetStart`, checking only the
   * pieces they fall in; undefined on a miss.
   */
  async readWithinBlock(key: BlockKey, from: number, length: number, target: Buffer, targetStart: number): Promise<number | undefined> {
    const entry = await this.openBlock(key);
    if (entry === undefined || from + length > entry.header.dataBytes) {
      this.miss(entry, key);
      return undefined;
    }
    const { first, last } = piecesCovering(from, from + length);
    const pieceStart = first * PIECE_BYTES;
    const pieceEnd = Math.min(entry.header.dataBytes, (last + 1) * PIECE_BYTES);
    const pieces = Buffer.allocUnsafe(pieceEnd - pieceStart);
    this.files.use(entry);
    try {
      const { bytesRead } = await entry.file.read(pieces, 0, pieces.length, entry.header.dataOffset + pieceStart);
      if (bytesRead !== pieces.length || !piecesMatch(entry.header, first, pieces)) {
        this.corrupt(entry);
        return undefined;
      }
      this.hit(entry, length);
      return pieces.copy(target, targetStart, from - pieceStart, from - pieceStart + length);
    } catch (error) {
      this.failed(error);
      return undefined;
    } finally {
      this.files.release(entry);
    }
  }

  /**
   * A range of block `key` for the native engine to serve itself: only from a file already open (no I/O here).
   * When it is not, the file is opened in the background, so that the reads after this one find it.
   */
  cachedRange(key: BlockKey, from: number, length: number): CachedRange | undefined {
    if (!this.enabled) return undefined;
    const path = this.pathOf(key);
    const entry = this.files.peek(path);
    if (entry === undefined) {
      void this.openBlock(key).catch(() => {});
      return undefined;
    }
    const served = Math.min(length, entry.header.dataBytes - from);
    if (served <= 0) return undefined;
    const { first, last } = piecesCovering(from, from + served);
    this.files.use(entry);
    let done = false;
    let bad = false;
    return {
      fd: entry.file.fd,
      filePosition: entry.header.dataOffset + from,
      length: served,
      pieceBytes: PIECE_BYTES,
      pieceCrcs: entry.header.pieceCrcs.subarray(first, last + 1),
      firstPieceFilePosition: entry.header.dataOffset + first * PIECE_BYTES,
      release: () => {
        if (done) return;
        done = true;
        if (!bad) this.hit(entry, served);
        this.files.release(entry);
      },
      lent: () => {
        if (done) return;
        done = true;
        this.touch(entry);
        this.files.release(entry);
      },
      corrupt: () => {
        if (bad) return;
        bad = true;
        this.corrupt(entry);
      },
    };
  }

  /** Where block `key` would be, for an engine that opens and checks it itself; none while caching is off. */
  wholeBlock(key: BlockKey, dataBytes: number): WholeBlock | undefined {
    const path = this.pathOf(key);
    if (!this.enabled || this.dropping.has(path)) return undefined;
    return { path, key: encodeKey(key), dataBytes };
  }

  /**
   * As `wholeBlock`, for an open the engine handed to the core: none when the block has no file. The engine
   * would only find it missing too and report so, and the fetch would start after that round trip; a look at
   * the folder's entry here (hot: the engine looked for its offer's file just before) starts it at once.
   */
  presentWholeBlock(key: BlockKey, dataBytes: number): WholeBlock | undefined {
    const block = this.wholeBlock(key, dataBytes);
    return block !== undefined && this.hasNoFile(block.path) ? this.lacks(key, block.path) : block;
  }

  /** The engine served `bytes` from a `wholeBlock` (it marks the file used itself). */
  engineServed(bytes: number): void {
    this.counters.hits += 1;
    this.counters.bytesServed += bytes;
  }

  /**
   * Writes block `key` behind the read that fetched it: `data` stays valid (its pooled buffer held) until
   * written. Queued for the few writers behind, never waited for; skipped when the blocks waiting already hold
   * their bound, so that a disk slower than the store sheds fills instead of holding the read path's memory.
   */
  storeBlock(key: BlockKey, data: Buffer, memory: PooledBuffer | undefined): void {
    const path = this.pathOf(key);
    if (!this.enabled || this.writing.has(path) || this.pendingWriteBytes + data.length > this.writeBehindMaxBytes) {
      this.counters.writesSkipped += 1;
      return;
    }
    memory?.hold();
    this.writing.add(path);
    this.pendingWriteBytes += data.length;
    this.fills.push({ key, path, data, memory });
    if (this.fillsRunning < FILL_WRITERS) {
      this.fillsRunning += 1;
      // After the reply (the read that fetched these bytes goes out first), and after the fills of the next few
      // reads, written by the same job.
      this.background(new Promise<void>((resolve) => setTimeout(resolve, FILL_GATHER_MS)).then(() => this.runFills()));
    }
  }

  private async runFills(): Promise<void> {
    try {
      for (let batch = this.fills.splice(0, FILL_BATCH_BLOCKS); batch.length > 0; batch = this.fills.splice(0, FILL_BATCH_BLOCKS)) {
        try {
          if (!this.enabled) this.counters.writesSkipped += batch.length;
          else this.filled(batch, await writeBlockFiles(batch));
        } finally {
          for (const fill of batch) {
            fill.memory?.release();
            this.writing.delete(fill.path);
            this.pendingWriteBytes -= fill.data.length;
          }
        }
      }
    } finally {
      this.fillsRunning -= 1;
    }
  }

  /** What the writes of `batch` came to: written blocks join the cache's size, a failed one counts (and may end caching). */
  private filled(batch: readonly Fill[], outcomes: readonly WriteOutcome[]): void {
    let bytes = 0;
    batch.forEach((fill, index) => {
      const outcome = outcomes[index] as WriteOutcome;
      if (outcome instanceof Error) {
        this.counters.writesFailed += 1;
        this.failed(outcome);
        return;
      }
      this.wrote(fill.key, fill.path);
      bytes += outcome.fileBytes;
    });
    if (bytes > 0) this.space.changed(bytes);
  }

  /** Block `key` now has its file at `path`: it is no longer missing, and its object's other versions go. */
  private wrote(key: BlockKey, path: string): void {
    this.missing.delete(path);
    this.dropOtherVersions(key);
  }

  /**
   * Writes block `key` now (`data`: one buffer, or the chunks it arrived in); false when it was not cached
   * (the cache is off, or the disk failed).
   */
  async writeBlock(key: BlockKey, data: Buffer | readonly Buffer[]): Promise<boolean> {
    if (!this.enabled) return false;
    try {
      const written = await writeBlockFile(this.blocksDir, key, data);
      this.wrote(key, this.pathOf(key));
      this.space.changed(written.fileBytes);
      return true;
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  /**
   * The blocks of `key`'s version whose files its shard names (one listing of the shard for the objects asked
   * about within a few seconds, no file opened): a block it does not name is taken as not cached (at worst
   * fetched again); one it names may still prove bad (`hasBlock`).
   */
  async listedBlocks(key: ObjectKey): Promise<ReadonlySet<number>> {
    const stem = versionStem(key);
    const byObject = await this.shardListing(join(this.blocksDir, shardFolder(key)));
    const indexes = new Set<number>();
    for (const name of byObject.get(objectStem(key)) ?? []) {
      const index = blockIndexOf(name, stem);
      if (index !== undefined) indexes.add(index);
    }
    return indexes;
  }

  private shardListing(folder: string): Promise<ReadonlyMap<string, readonly string[]>> {
    let listing = this.shardListings.get(folder);
    if (listing === undefined) {
      // The callback form: shards are missing in a new cache, and a rejected promise costs more than the call.
      listing = new Promise<string[]>((resolve) => readdir(folder, (error, found) => resolve(error ? [] : found))).then((names) => {
        const byObject = new Map<string, string[]>();
        for (const name of names) {
          const object = objectStemOf(name);
          if (object === '') continue;
          const named = byObject.get(object);
          if (named === undefined) byObject.set(object, [name]);
          else named.push(name);
        }
        return byObject;
      });
      this.shardListings.set(folder, listing);
    }
    return listing;
  }

  /** Whether block `key` is cached whole (its header checked; its data is checked when read). */
  async hasBlock(key: BlockKey, dataBytes: number): Promise<boolean> {
    const entry = await this.openBlock(key);
    return entry !== undefined && entry.header.dataBytes === dataBytes;
  }

  /** A turn at the shared size now (eviction included), instead of at the next chunk or tick. */
  syncSpace(): Promise<void> {
    return this.space.sync();
  }

  /** Waits for the writes behind and the version sweeps (tests, and unmount). */
  async settled(): Promise<void> {
    this.sweepVersions();
    while (this.pendingWrites.size > 0) await Promise.all([...this.pendingWrites]);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.settled();
    // What this mount wrote since its last turn joins the shared size, for the mounts that stay or come.
    if (this.enabled) await this.space.sync();
    this.files.clear();
  }

  private pathOf(key: BlockKey): string {
    return this.paths.get(key, this.derivePath);
  }

  private readonly derivePath = (key: BlockKey): string => `${this.blocksDir}/${blockFilePath(key)}`;

  /** Opens block `key`'s file for `cachedRange`, reading nothing of its data; false when the cache lacks it. */
  async warmBlock(key: BlockKey): Promise<boolean> {
    return (await this.openBlock(key)) !== undefined;
  }

  /** Opens blocks `from` to `to` (indexes, both included) of `key`'s object in the background, those not open yet. */
  openBlocks(key: ObjectKey, from: number, to: number): void {
    for (let index = from; index <= to; index += 1) {
      const next = { ...key, blockIndex: index };
      if (this.files.peek(this.pathOf(next)) === undefined) void this.openBlock(next).catch(() => {});
    }
  }

  private async openBlock(key: BlockKey): Promise<OpenBlock | undefined> {
    const path = this.pathOf(key);
    if (!this.enabled || this.dropping.has(path)) return undefined;
    if (this.hasNoFile(path)) return this.lacks(key, path);
    try {
      const entry = await this.files.open(path, key);
      return entry ?? this.lacks(key, path);
    } catch (error) {
      if (error instanceof BlockFileError) {
        this.dropBad(path, error.message);
        return undefined;
      }
      this.failed(error);
      return undefined;
    }
  }

  /**
   * Block `key` has no file: not looked for again at once, and its version's others, never served again, go
   * soon (a hit costs no listing). A miss is known by a look at the folder's entry on this thread, hot when
   * the engine has just looked too: a failing open on the thread pool costs several times more.
   */
  private lacks(key: BlockKey, path: string): undefined {
    if (this.missing.size >= MISSING_MEMO_MAX) this.missing.clear();
    this.missing.set(path, performance.now());
    this.dropOtherVersions(key);
    return undefined;
  }

  /** No block file at `path`: none open here, and one found missing lately or not there now. */
  private hasNoFile(path: string): boolean {
    return this.files.peek(path) === undefined && (this.knownMissing(path) || !existsSync(path));
  }

  private knownMissing(path: string): boolean {
    const since = this.missing.get(path);
    if (since === undefined) return false;
    if (performance.now() - since < MISSING_MEMO_MS) return true;
    this.missing.delete(path);
    return false;
  }

  private hit(entry: OpenBlock, bytes: number): void {
    this.counters.hits += 1;
    this.counters.bytesServed += bytes;
    this.touch(entry);
  }

  /** Marks the file used (its access time, which eviction goes by), at most once per TOUCH_INTERVAL_MS. */
  private touch(entry: OpenBlock): void {
    const now = this.now();
    if (now - entry.touchedMs < TOUCH_INTERVAL_MS) return;
    entry.touchedMs = now;
    void entry.file.utimes(now / 1000, entry.mtimeMs / 1000).catch(() => {});
  }

  private miss(entry: OpenBlock | undefined, key: BlockKey): false {
    this.counters.misses += 1;
    // A file of the right key but the wrong length cannot be this block: it is stale.
    if (entry !== undefined) this.dropBad(this.pathOf(key), 'block file of another length');
    return false;
  }

  private corrupt(entry: OpenBlock): false {
    this.counters.misses += 1;
    this.dropBad(entry.path, 'checksum mismatch');
    return false;
  }

  /** A bad block file: forgotten, removed, counted; the read goes to the store. */
  private dropBad(path: string, reason: string): void {
    if (this.dropping.has(path)) return;
    this.counters.checksumFailures += 1;
    this.files.forget(path);
    this.dropping.add(path);
    this.logger.warn({ path, reason }, 'disk cache: dropped a damaged block; fetching it again');
    this.background(
      fsp
        .lstat(path)
        .then(
          (stats) => fsp.unlink(path).then(() => this.space.changed(-stats.size)),
          () => {},
        )
        .finally(() => this.dropping.delete(path)),
    );
  }

  /** A disk error: caching stops for good on a full, failing or read-only disk; anything else is one miss. */
  private failed(error: unknown): void {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || !DISABLING_CODES.has(code) || !this.enabled) return;
    this.enabled = false;
    this.files.clear();
    this.logger.warn({ dir: this.dir, err: (error as Error).message }, `disk cache turned off (${code}); reads go to the store`);
  }

  private background(work: Promise<unknown>): void {
    const tracked: Promise<void> = work.then(
      () => {},
      () => {},
    );
    this.pendingWrites.add(tracked);
    void tracked.finally(() => this.pendingWrites.delete(tracked));
  }
}

/**
 * Every shard folder, before the first fill: a block's write is then one create in a folder that exists (no
 * failed open and mkdir on the read path), and the folders are placed once, together. One that cannot be made
 * now is made by the first write into it (`block-writer.ts`), which reports what failed.
 */
async function makeShardFolders(blocksDir: string): Promise<void> {
  await Promise.all(SHARD_FOLDERS.map((name) => fsp.mkdir(join(blocksDir, name)).catch(() => {})));
}

/**
 * Why a folder cannot be made, told by its first missing ancestor: a recursive mkdir reports ENOENT where the
 * disk says EROFS or EACCES.
 */
async function firstMkdirFailure(path: string): Promise<string | undefined> {
  let missing = path;
  while (dirname(missing) !== missing && !(await fsp.stat(dirname(missing)).then(() => true, () => false))) missing = dirname(missing);
  try {
    await fsp.mkdir(missing);
    await fsp.rmdir(missing);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code;
  }
}

/** A block waiting for its write behind: its pooled buffer held until then. */
interface Fill {
  readonly key: BlockKey;
  readonly path: string;
  readonly data: Buffer;
  readonly memory: PooledBuffer | undefined;
}

function sameObjectKey(a: ObjectKey, b: ObjectKey): boolean {
  return a.object === b.object && a.version === b.version && a.size === b.size && a.blockBytes === b.blockBytes && a.endpoint === b.endpoint && a.bucket === b.bucket;
}

/** Block keys one `CachedObject` keeps (a large file's reader moves on; a small file has one). */
const KEPT_BLOCK_KEYS_MAX = 64;

/** How often a mount takes a turn at the shared size even when it writes nothing. */
const SPACE_CHECK_INTERVAL_MS = 30_000;

/** One version of one object in the disk cache: what an open file's reader talks to. */
export class CachedObject {
  /** The last block opened ahead of the engine's reads (`openAhead`). */
  private openedAheadTo = -1;
  /** Block 0's key apart: most objects are small files of one block, and need no map (kept per object, many kept). */
  private firstBlockKey: BlockKey | undefined;
  private blockKeys: Map<number, BlockKey> | undefined;

  constructor(
    readonly cache: DiskCache,
    readonly key: ObjectKey,
  ) {}

  get blockBytes(): number {
    return this.key.blockBytes;
  }

  /** The same object for the same block, so that its path and header text are derived once (`DiskCache`). */
  blockKey(blockIndex: number): BlockKey {
    if (blockIndex === 0) return (this.firstBlockKey ??= { ...this.key, blockIndex });
    this.blockKeys ??= new Map();
    let key = this.blockKeys.get(blockIndex);
    if (key === undefined) {
      key = { ...this.key, blockIndex };
      if (this.blockKeys.size >= KEPT_BLOCK_KEYS_MAX) this.blockKeys.clear();
      this.blockKeys.set(blockIndex, key);
    }
    return key;
  }

  readBlock(blockIndex: number, into: Buffer): Promise<boolean> {
    return this.cache.readBlock(this.blockKey(blockIndex), into);
  }

  /** Opens the block's file, reading nothing of its data, for `cachedRange`; false when the cache lacks it. */
  warmBlock(blockIndex: number): Promise<boolean> {
    return this.cache.warmBlock(this.blockKey(blockIndex));
  }

  storeBlock(blockIndex: number, data: Buffer, memory: PooledBuffer | undefined): void {
    this.cache.storeBlock(this.blockKey(blockIndex), data, memory);
  }

  /**
   * Bytes `[position, position + length)` of the object into `target` at `targetStart`, if every block they
   * fall in is cached; else undefined (nothing counted as read).
   */
  async readRange(position: number, length: number, target: Buffer, targetStart: number): Promise<number | undefined> {
    const blockBytes = this.key.blockBytes;
    let copied = 0;
    while (copied < length) {
      const at = position + copied;
      const index = Math.floor(at / blockBytes);
      const within = at - index * blockBytes;
      const count = Math.min(length - copied, blockBytes - within);
      const read = await this.cache.readWithinBlock(this.blockKey(index), within, count, target, targetStart + copied);
      if (read === undefined) return copied === 0 ? undefined : copied;
      copied += read;
    }
    return copied;
  }

  /** Where the block holding the whole object would be (an object of one block), for an engine to serve. */
  wholeBlock(): WholeBlock | undefined {
    return this.cache.wholeBlock(this.blockKey(0), this.key.size);
  }

  /** As `wholeBlock`, for an open: none when its file is missing (`DiskCache.presentWholeBlock`). */
  presentWholeBlock(): WholeBlock | undefined {
    return this.cache.presentWholeBlock(this.blockKey(0), this.key.size);
  }

  engineServed(bytes: number): void {
    this.cache.engineServed(bytes);
  }

  /** The range at `position` (within one block) for the native engine, if its file is open. */
  cachedRange(position: number, length: number): CachedRange | undefined {
    const wanted = Math.min(length, this.key.size - position);
    if (wanted <= 0) return undefined;
    const index = Math.floor(position / this.key.blockBytes);
    const range = this.cache.cachedRange(this.blockKey(index), position - index * this.key.blockBytes, wanted);
    if (range !== undefined) this.openAhead(index);
    return range;
  }

  /**
   * Opens the blocks after `index`, the engine being served from it, in the background: the reads to come then
   * find their files open and are served by the engine, not read into memory by the read path. Each block once,
   * unless the reader went back.
   */
  private openAhead(index: number): void {
    const last = Math.min(Math.ceil(this.key.size / this.key.blockBytes) - 1, index + OPEN_AHEAD_BLOCKS);
    const from = this.openedAheadTo >= index && this.openedAheadTo <= last ? this.openedAheadTo + 1 : index + 1;
    if (from > last) return;
    this.openedAheadTo = last;
    this.cache.openBlocks(this.key, from, last);
  }
}
