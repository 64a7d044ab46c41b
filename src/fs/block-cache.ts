import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import { BufferPool, type PooledBuffer } from './buffer-pool.js';
import { ByteChunks } from './byte-chunks.js';
import type { CachedObject } from './disk-cache/disk-cache.js';
import { fetchThroughDisk } from './disk-cache/tiered-fetch.js';
import { MemoryBudget } from './memory-budget.js';
import type { ReadPathOptions } from './read-path-options.js';
import type { ReadStats } from './read-stats.js';

export interface BlockCacheOptions {
  /** Bytes of cached blocks plus GETs in flight never exceed this: the pool holds this many bytes of blocks at most. */
  readonly budgetBytes: number;
  /** The unit of caching and of the pool's buffers; object offsets are cut into blocks of this size. */
  readonly blockSizeBytes: number;
}

/** Blocks `[firstIndex, firstIndex + count)` of one object version, fetched by one GET. */
export interface BlockRun {
  readonly objectId: string;
  readonly firstIndex: number;
  readonly count: number;
  /** Bytes the GET returns: shorter than `count` blocks only at the end of the object. */
  readonly lengthBytes: number;
  /** The object's blocks in the disk cache, asked before the store (and written to after it). */
  readonly disk?: CachedObject;
}

/** Fetches `length` bytes at `offset`, honouring `signal`; the body may be read into `into` (`length` bytes in all). */
export type RangeFetcher = (offset: number, length: number, signal: AbortSignal, into?: readonly Buffer[]) => Promise<ByteChunks>;

export type FetchKind = 'demand' | 'prefetch';

interface CachedBlock {
  /** A view of the pooled buffer the GET read it into (no copy); the cache holds that buffer once. */
  readonly data: ByteChunks;
  readonly prefetched: boolean;
  /** A reader took bytes of it: its prefetch was not wasted. */
  read: boolean;
}

interface InflightBlock {
  readonly data: Promise<ByteChunks>;
  readonly prefetched: boolean;
  joined: boolean;
}

/**
 * Blocks of objects shared by every open file of a mount (as MSFS's cache lines): an LRU bounded
 * in bytes, and a table of blocks being fetched so that readers of one block share one GET. A
 * block is named by the object's version (see `objectIdOf`): a changed object gets new names, so
 * stale bytes are never served; its old blocks age out.
 */
export class BlockCache {
  readonly blockSizeBytes: number;
  readonly budget: MemoryBudget;
  private readonly lru: LRUCache<string, CachedBlock>;
  private readonly inflightBlocks = new Map<string, InflightBlock>();
  private readonly pool: BufferPool;
  /** Bytes of GETs in flight (their buffers are taken). */
  private inflightBytes = 0;
  private readonly closing = new AbortController();
  private namespaces = 0;
  private cacheHits = 0;
  private cacheMisses = 0;
  private cacheEvictions = 0;
  private prefetchedBytes = 0;
  private prefetchWasteBytes = 0;
  private bytesFetched = 0;

  constructor(options: BlockCacheOptions) {
    if (!(options.blockSizeBytes > 0) || !(options.budgetBytes >= options.blockSizeBytes)) {
      throw new RangeError(`the read budget (${options.budgetBytes} bytes) must hold at least one block (${options.blockSizeBytes} bytes)`);
    }
    this.blockSizeBytes = options.blockSizeBytes;
    this.pool = new BufferPool(options.blockSizeBytes, Math.floor(options.budgetBytes / options.blockSizeBytes));
    // Every GET in flight listens to it: dozens at once is normal, not a leak.
    setMaxListeners(0, this.closing.signal);
    this.lru = new LRUCache<string, CachedBlock>({
      // Never reached: each cached block holds one of the pool's buffers, and the budget evicts before it takes.
      maxSize: this.pool.capacity * this.blockSizeBytes,
      sizeCalculation: (block) => Math.max(1, block.data.length),
      dispose: (block, _id, reason) => {
        block.data.memory?.release();
        if (reason === 'evict') this.cacheEvictions += 1;
        if (block.prefetched && !block.read) this.prefetchWasteBytes += block.data.length;
      },
    });
    this.budget = new MemoryBudget(this.pool, { evictOldest: () => this.evictOldest() });
  }

  /**
   * A prefix for the object ids of one user of a shared cache (one bucket of a mount): two
   * buckets, or two clusters, may hold the same key at the same version string.
   */
  newNamespace(): string {
    this.namespaces += 1;
    return `ns${this.namespaces}`;
  }

  /** The block's bytes if cached, a promise of them if being fetched, else undefined. Counts as a use. */
  block(objectId: string, index: number): ByteChunks | Promise<ByteChunks> | undefined {
    const id = blockId(objectId, index);
    const cached = this.lru.get(id);
    if (cached !== undefined) {
      cached.read = true;
      return cached.data;
    }
    const pending = this.inflightBlocks.get(id);
    if (pending === undefined) return undefined;
    pending.joined = true;
    return pending.data;
  }

  /** Cached or being fetched; does not count as a use. */
  isPresent(objectId: string, index: number): boolean {
    const id = blockId(objectId, index);
    return this.inflightBlocks.has(id) || this.lru.has(id);
  }

  isCached(objectId: string, index: number): boolean {
    return this.lru.has(blockId(objectId, index));
  }

  /**
   * Starts one GET for `run`; its blocks are in flight at once, so later readers join it. A
   * demand fetch waits for room in the budget; a prefetch is not started without room (false).
   */
  startRun(run: BlockRun, kind: FetchKind, fetch: RangeFetcher): boolean {
    const offered = kind === 'prefetch' ? this.budget.tryTake(run.lengthBytes) : undefined;
    if (kind === 'prefetch' && offered === undefined) return false;
    const entries: InflightBlock[] = [];
    const taken = offered !== undefined ? Promise.resolve(offered) : this.budget.take(run.lengthBytes, this.closing.signal);
    const slices = taken.then(async (memory) => {
      this.inflightBytes += run.lengthBytes;
      try {
        const blocks = await this.fetchInto(memory, run.firstIndex * this.blockSizeBytes, run.lengthBytes, fetch, run.disk);
        if (kind === 'prefetch') this.prefetchedBytes += run.lengthBytes;
        const settled = entries.map((entry, i) => this.settle(blockId(run.objectId, run.firstIndex + i), entry, blocks[i] ?? ByteChunks.EMPTY));
        // Readers awaiting these blocks take their own hold in this turn of the event loop, before any socket
        // read could refill a buffer: the fetch's hold goes on the next turn, after theirs.
        setImmediate(() => {
          for (const block of blocks) block.memory?.release();
        });
        return settled;
      } catch (error) {
        this.forgetRun(run, entries);
        throw error;
      } finally {
        this.inflightBytes -= run.lengthBytes;
        // Its blocks are in the cache now, evictable: a demand waiting for room may find it.
        this.budget.wakeAll();
      }
    });
    for (let i = 0; i < run.count; i += 1) {
      const entry: InflightBlock = {
        prefetched: kind === 'prefetch',
        joined: false,
        data: slices.then((all) => all[i] ?? ByteChunks.EMPTY),
      };
      // Readers awaiting a block see the error; a prefetch nobody awaits must not be unhandled.
      entry.data.catch(() => {});
      entries.push(entry);
      this.inflightBlocks.set(blockId(run.objectId, run.firstIndex + i), entry);
    }
    return true;
  }

  /**
   * A GET of `length` bytes into the pooled buffers `memory` (one per block); returns each block's bytes, held
   * once by its buffer. A body that arrived elsewhere (a client that could not read into them) is copied in,
   * so that what the mount keeps is always the pool's memory.
   */
  private async fetchInto(memory: readonly PooledBuffer[], offset: number, length: number, fetch: RangeFetcher, disk?: CachedObject): Promise<ByteChunks[]> {
    const views = memory.map((buffer, i) => buffer.bytes.subarray(0, Math.min(this.blockSizeBytes, length - i * this.blockSizeBytes)));
    let data: ByteChunks;
    try {
      if (disk === undefined) {
        data = await fetch(offset, length, this.closing.signal, views);
        this.bytesFetched += data.length;
      } else {
        // Only what came from the store counts as fetched.
        const fromStore: RangeFetcher = async (...args) => {
          const body = await fetch(...args);
          this.bytesFetched += body.length;
          return body;
        };
        data = await fetchThroughDisk(disk, offset / this.blockSizeBytes, memory, views, fromStore, this.closing.signal);
      }
    } catch (error) {
      // A GET that failed is over: its connection was closed or finished, nothing writes into the buffers any more.
      for (const buffer of memory) buffer.release();
      throw error;
    }
    return memory.map((buffer, i) => {
      const view = views[i]!;
      const start = i * this.blockSizeBytes;
      const bytes = Math.max(0, Math.min(view.length, data.length - start));
      if (!data.liesIn(view, start)) data.copyTo(view, 0, start, start + bytes);
      return ByteChunks.of([view.subarray(0, bytes)]).livingIn(buffer);
    });
  }

  /**
   * Bytes `[offset, offset + length)` read outside the blocks (a random read) into `target` at `targetStart`,
   * through the pool's buffers like any other GET (or from the disk cache, when it holds them all); returns the
   * count copied.
   */
  async fetchDirect(offset: number, length: number, fetch: RangeFetcher, target: Buffer, targetStart: number, disk?: CachedObject): Promise<number> {
    const fromDisk = await disk?.readRange(offset, length, target, targetStart);
    if (fromDisk !== undefined) return fromDisk;
    const memory = await this.budget.take(length, this.closing.signal);
    this.inflightBytes += length;
    try {
      const blocks = await this.fetchInto(memory, offset, length, fetch);
      let copied = 0;
      for (const block of blocks) {
        copied += block.copyTo(target, targetStart + copied, 0, block.length);
        block.memory?.release();
      }
      return copied;
    } finally {
      this.inflightBytes -= length;
    }
  }

  /** Drops a cached block that its reader has passed (a block in flight stays). */
  drop(objectId: string, index: number): void {
    this.lru.delete(blockId(objectId, index));
  }

  countRead(hit: boolean): void {
    if (hit) this.cacheHits += 1;
    else this.cacheMisses += 1;
  }

  stats(): ReadStats {
    return {
      cacheHits: this.cacheHits,
      cacheMisses: this.cacheMisses,
      cacheEvictions: this.cacheEvictions,
      prefetchedBytes: this.prefetchedBytes,
      prefetchWasteBytes: this.prefetchWasteBytes,
      bytesFetched: this.bytesFetched,
      inflightBytes: this.inflightBytes,
      cachedBytes: this.lru.calculatedSize,
    };
  }

  /** Cancels every fetch and drops every block (unread prefetched ones count as waste). */
  close(): void {
    this.closing.abort();
    this.inflightBlocks.clear();
    this.lru.clear();
    this.pool.close();
    this.budget.wakeAll();
  }

  /** Moves a block of a finished run from the in-flight table into the LRU, which then holds its buffer too. */
  private settle(id: string, entry: InflightBlock, block: ByteChunks): ByteChunks {
    if (this.inflightBlocks.get(id) !== entry) return block;
    this.inflightBlocks.delete(id);
    if (block.length > 0 && !this.closing.signal.aborted) {
      block.memory?.hold();
      this.lru.set(id, { data: block, prefetched: entry.prefetched, read: entry.joined });
    }
    return block;
  }

  /** Drops the least recently used block; its buffer goes back to the pool once no reader holds it. */
  private evictOldest(): boolean {
    return this.lru.pop() !== undefined;
  }

  private forgetRun(run: BlockRun, entries: readonly InflightBlock[]): void {
    entries.forEach((entry, i) => {
      const id = blockId(run.objectId, run.firstIndex + i);
      if (this.inflightBlocks.get(id) === entry) this.inflightBlocks.delete(id);
    });
  }
}

/** The cache of a mount, sized by resolved read-path options. */
export function blockCacheFor(options: Pick<ReadPathOptions, 'cacheSizeBytes' | 'blockSizeBytes'>): BlockCache {
  return new BlockCache({ budgetBytes: options.cacheSizeBytes, blockSizeBytes: options.blockSizeBytes });
}

function blockId(objectId: string, index: number): string {
  return `${objectId}\u0000${index}`;
}
