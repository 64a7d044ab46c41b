import { setMaxListeners } from 'node:events';
import { LRUCache } from 'lru-cache';
import { BufferPool } from './buffer-pool.js';
import { ByteChunks } from './byte-chunks.js';
import { MemoryBudget } from './memory-budget.js';
import type { ReadPathOptions } from './read-path-options.js';
import type { ReadStats } from './read-stats.js';

export interface BlockCacheOptions {
  /** Bytes of cached blocks plus GETs in flight never exceed this. */
  readonly budgetBytes: number;
  /** The unit of caching; object offsets are cut into blocks of this size. */
  readonly blockSizeBytes: number;
  /** GETs of exactly this many bytes (whole parts) read into reused buffers; 0: none do. */
  readonly partSizeBytes?: number;
}

/**
 * Freed part buffers kept for the next GETs (the cache frees a run just before it fetches the next): an eighth
 * of the budget, at least 4. Several streams release parts in bursts: with 4 kept, 55 of the first 100 part GETs
 * of a cold 4-stream read went to fresh buffers; with 8 (and part-aligned top-ups), 49 of 124, which is the
 * streams' working set.
 */
function pooledPartsKept(budgetBytes: number, partSizeBytes: number): number {
  return Math.max(4, Math.floor(budgetBytes / 8 / Math.max(1, partSizeBytes)));
}

/** Blocks `[firstIndex, firstIndex + count)` of one object version, fetched by one GET. */
export interface BlockRun {
  readonly objectId: string;
  readonly firstIndex: number;
  readonly count: number;
  /** Bytes the GET returns: shorter than `count` blocks only at the end of the object. */
  readonly lengthBytes: number;
}

/** Fetches `length` bytes at `offset`, honouring `signal`; the body may be read into `into` (of `length` bytes). */
export type RangeFetcher = (offset: number, length: number, signal: AbortSignal, into?: Buffer) => Promise<ByteChunks>;

export type FetchKind = 'demand' | 'prefetch';

interface CachedBlock {
  /** Views into the body of the GET that fetched it (no copy). */
  readonly data: ByteChunks;
  /** Ids of every block of that GET: they share one buffer, so they leave the cache together. */
  readonly runIds: readonly string[];
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
  private readonly inflight = new Map<string, InflightBlock>();
  private readonly parts: BufferPool;
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
    this.parts = new BufferPool(options.partSizeBytes ?? 0, pooledPartsKept(options.budgetBytes, options.partSizeBytes ?? 0));
    // Every GET in flight listens to it: dozens at once is normal, not a leak.
    setMaxListeners(0, this.closing.signal);
    this.lru = new LRUCache<string, CachedBlock>({
      maxSize: options.budgetBytes,
      sizeCalculation: (block) => Math.max(1, block.data.length),
      dispose: (block, _id, reason) => {
        block.data.memory?.release();
        if (reason === 'evict') this.cacheEvictions += 1;
        if (block.prefetched && !block.read) this.prefetchWasteBytes += block.data.length;
      },
    });
    this.budget = new MemoryBudget(options.budgetBytes, {
      cachedBytes: () => this.lru.calculatedSize,
      evictOldest: () => this.evictOldestRun(),
    });
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
    const pending = this.inflight.get(id);
    if (pending === undefined) return undefined;
    pending.joined = true;
    return pending.data;
  }

  /** Cached or being fetched; does not count as a use. */
  isPresent(objectId: string, index: number): boolean {
    const id = blockId(objectId, index);
    return this.inflight.has(id) || this.lru.has(id);
  }

  isCached(objectId: string, index: number): boolean {
    return this.lru.has(blockId(objectId, index));
  }

  /**
   * Starts one GET for `run`; its blocks are in flight at once, so later readers join it. A
   * demand fetch waits for room in the budget; a prefetch is not started without room (false).
   */
  startRun(run: BlockRun, kind: FetchKind, fetch: RangeFetcher): boolean {
    if (kind === 'prefetch' && !this.budget.tryReserve(run.lengthBytes)) return false;
    const entries: InflightBlock[] = [];
    const reserved = kind === 'prefetch' ? Promise.resolve() : this.budget.reserve(run.lengthBytes, this.closing.signal);
    const slices = reserved.then(async () => {
      try {
        const data = await this.fetchPart(run.firstIndex * this.blockSizeBytes, run.lengthBytes, fetch);
        this.bytesFetched += data.length;
        if (kind === 'prefetch') this.prefetchedBytes += data.length;
        // Into the LRU before the reservation is released, so cache + in flight never over-count nor under-count.
        const runIds = entries.map((_, i) => blockId(run.objectId, run.firstIndex + i));
        const slices = entries.map((entry, i) => this.settle(runIds, entry, this.sliceOf(data, i), i));
        // Readers awaiting these blocks copy them in this turn of the event loop, before any socket read could
        // refill the buffer: the fetch's own hold can go now.
        data.memory?.release();
        return slices;
      } catch (error) {
        this.forgetRun(run, entries);
        throw error;
      } finally {
        this.budget.release(run.lengthBytes);
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
      this.inflight.set(blockId(run.objectId, run.firstIndex + i), entry);
    }
    return true;
  }

  /** A GET of a run, into a pooled buffer when it is a whole part; the result holds that buffer once. */
  private async fetchPart(offset: number, length: number, fetch: RangeFetcher): Promise<ByteChunks> {
    const memory = this.parts.take(length);
    if (memory === undefined) return fetch(offset, length, this.closing.signal);
    let data: ByteChunks;
    try {
      data = await fetch(offset, length, this.closing.signal, memory.bytes);
    } catch (error) {
      // A GET that failed is over: its connection was closed or finished, nothing writes into the buffer any more.
      memory.release();
      throw error;
    }
    const held = data.livingIn(memory);
    if (held.memory === undefined) memory.release();
    return held;
  }

  /** Bytes of a range read outside the blocks (a random read), within the same budget. */
  async fetchDirect(offset: number, length: number, fetch: RangeFetcher): Promise<ByteChunks> {
    await this.budget.reserve(length, this.closing.signal);
    try {
      const data = await fetch(offset, length, this.closing.signal);
      this.bytesFetched += data.length;
      return data;
    } finally {
      this.budget.release(length);
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
      inflightBytes: this.budget.inflightBytes,
      cachedBytes: this.lru.calculatedSize,
    };
  }

  /** Cancels every fetch and drops every block (unread prefetched ones count as waste). */
  close(): void {
    this.closing.abort();
    this.inflight.clear();
    this.lru.clear();
    this.parts.close();
    this.budget.wakeAll();
  }

  /** Block `i` of a run's body, as views (copying would cost a memcpy of every byte read). */
  private sliceOf(data: ByteChunks, i: number): ByteChunks {
    const start = i * this.blockSizeBytes;
    return data.subrange(start, start + this.blockSizeBytes);
  }

  /** Moves block `i` of a finished run from the in-flight table into the LRU; returns its bytes. */
  private settle(runIds: readonly string[], entry: InflightBlock, slice: ByteChunks, i: number): ByteChunks {
    const id = runIds[i]!;
    if (this.inflight.get(id) !== entry) return slice;
    this.inflight.delete(id);
    if (slice.length > 0 && !this.closing.signal.aborted) {
      slice.memory?.hold();
      this.lru.set(id, { data: slice, runIds, prefetched: entry.prefetched, read: entry.joined });
    }
    return slice;
  }

  /**
   * Drops the least recently used block and the rest of its GET: its bytes are views of one
   * buffer, freed only when no block of it is left, so counting them as freed one by one would
   * let real memory exceed the budget.
   */
  private evictOldestRun(): boolean {
    const oldest = this.lru.pop();
    if (oldest === undefined) return false;
    for (const id of oldest.runIds) {
      const sibling = this.lru.peek(id);
      if (sibling !== undefined && sibling.runIds === oldest.runIds) {
        this.lru.delete(id);
        this.cacheEvictions += 1;
      }
    }
    return true;
  }

  private forgetRun(run: BlockRun, entries: readonly InflightBlock[]): void {
    entries.forEach((entry, i) => {
      const id = blockId(run.objectId, run.firstIndex + i);
      if (this.inflight.get(id) === entry) this.inflight.delete(id);
    });
  }
}

/** The cache of a mount, sized by resolved read-path options. */
export function blockCacheFor(options: Pick<ReadPathOptions, 'cacheSizeBytes' | 'blockSizeBytes' | 'partSizeBytes'>): BlockCache {
  return new BlockCache({ budgetBytes: options.cacheSizeBytes, blockSizeBytes: options.blockSizeBytes, partSizeBytes: options.partSizeBytes });
}

function blockId(objectId: string, index: number): string {
  return `${objectId}\u0000${index}`;
}
