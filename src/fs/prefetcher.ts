import { identifiesContent, objectIdentity } from './object-identity.js';
import type { BucketClient } from '../store/bucket-client.js';
import type { BlockCache, FetchKind, RangeFetcher } from './block-cache.js';
import type { ByteChunks } from './byte-chunks.js';
import { clampRead, fetchRangeChunks, type ObjectReader, type ObjectReaderFactory, type ObjectSnapshot } from './read-path.js';
import type { ReadPathOptions } from './read-path-options.js';
import type { CachedObject } from './disk-cache/disk-cache.js';
import type { CachedRange, WholeBlock } from './types.js';

/**
 * The reads of one open file over the mount's shared block cache, with one sequential cursor
 * (as mountpoint-s3 does). A stream's reads are served from blocks fetched ahead in a window
 * that starts at `initialWindowBytes` and doubles, each time the reader comes within half a
 * window of what was fetched, up to `maxWindowBytes`, as GETs of at most `partSizeBytes` in
 * parallel. A read far from the cursor switches to random mode: exact-range GETs, no prefetch,
 * so random readers waste nothing; reads that continue exactly where the last one ended, for more
 * than a first window's worth of bytes, switch back, with the window small again. Objects up to `smallObjectThresholdBytes` are
 * fetched whole by the first read.
 */
export class PrefetchingReader implements ObjectReader {
  private lastEnd = 0;
  private sequential = true;
  /** In random mode, the bytes read back to back since the last seek. */
  private contiguousBytes = 0;
  private windowBytes: number;
  /** End of the bytes fetched or being fetched for this stream (block-aligned, or the object's end). */
  private frontier = 0;
  /** Blocks before this index were dropped from the cache behind the stream. */
  private droppedBefore = 0;
  private closed = false;
  /** The end of the ranges handed to the engine (`cachedRange`): a read up to there continues the stream it served. */
  private engineServedTo = 0;
  private readonly fetchBytes: RangeFetcher;

  constructor(
    private readonly cache: BlockCache,
    client: BucketClient,
    private readonly snapshot: ObjectSnapshot,
    private readonly objectId: string,
    private readonly options: ReadPathOptions,
    /** This version's blocks in the disk cache, when the mount has one. */
    private readonly disk?: CachedObject,
    /** Shared by the readers of one mount: its engine asks for cached ranges (it serves disk hits itself). */
    private readonly engine: { servesCachedRanges: boolean } = { servesCachedRanges: false },
  ) {
    this.windowBytes = options.initialWindowBytes;
    this.fetchBytes = (offset, length, signal, into) => fetchRangeChunks(client, snapshot, offset, length, signal, into);
  }

  async read(target: Buffer, length: number, position: number): Promise<number> {
    const wanted = clampRead(this.snapshot.size, Math.min(length, target.length), position);
    if (wanted === 0 || this.closed) return 0;
    const end = position + wanted;
    if (this.isSmall) {
      this.ensureBlocks(0, this.snapshot.size, 'demand');
      return this.copyBlocks(target, position, end, this.takeBlocks(position, end));
    }
    const covered = this.isCovered(position, end);
    const tolerance = this.options.sequentialToleranceBytes;
    const continues = this.sequential
      ? Math.abs(position - this.lastEnd) <= tolerance || (position >= this.lastEnd && position <= this.engineServedTo + tolerance)
      : position === this.lastEnd;
    // A far seek: random mode, exact-range GETs until the reader shows it streams again.
    const farSeek = !continues && !covered;
    if (farSeek) {
      this.sequential = false;
      this.contiguousBytes = 0;
    }
    if (!this.sequential && (farSeek || continues)) {
      // The kernel splits one large random read into several contiguous requests (128 KiB each with libfuse 2):
      // only a run longer than a first window is a stream, so random readers never pay for a wasted window.
      this.contiguousBytes += wanted;
      if (farSeek || this.contiguousBytes <= this.options.initialWindowBytes) {
        this.lastEnd = end;
        this.cache.countRead(false);
        return this.readDirect(target, position, wanted);
      }
      this.sequential = true;
      this.windowBytes = this.options.initialWindowBytes;
      this.frontier = 0;
    }
    // The kernel may deliver a stream's reads slightly out of order: the cursor only moves forward.
    this.lastEnd = this.sequential ? Math.max(this.lastEnd, end) : end;
    if (!this.sequential) return this.copyBlocks(target, position, end, this.takeBlocks(position, end));
    this.ensureBlocks(position, end, 'demand');
    // Taken before prefetching: making room for the window must not evict what this read needs.
    const blocks = this.takeBlocks(position, end);
    this.dropBehind();
    this.prefetchAfter(end);
    return this.copyBlocks(target, position, end, blocks);
  }

  /**
   * A stream does not come back for what it read (the kernel's page cache keeps that): blocks further behind
   * the cursor than a late read could reach leave the cache, as in mountpoint-s3, so their memory serves the
   * next parts instead of fresh pages.
   */
  private dropBehind(): void {
    const blockBytes = this.cache.blockSizeBytes;
    const before = Math.floor((this.lastEnd - this.options.sequentialToleranceBytes) / blockBytes);
    for (let index = Math.max(this.droppedBefore, before - DROP_BEHIND_SCAN_BLOCKS); index < before; index += 1) {
      this.cache.drop(this.objectId, index);
    }
    this.droppedBefore = Math.max(this.droppedBefore, before);
  }

  /** A small object is read whole by its first read anyway: its GET starts now. */
  opened(): void | Promise<void> {
    if (!(this.snapshot.size > 0 && this.isSmall)) return;
    const { disk } = this;
    if (disk === undefined || !this.engine.servesCachedRanges) {
      this.ensureBlocks(0, this.snapshot.size, 'prefetch');
      return;
    }
    // The engine serves what the disk cache holds from its file: only open that file (before the open is
    // answered, so that the first read finds it), no copy into memory; an object it lacks is fetched ahead.
    return disk.warmBlock(0).then((held) => {
      if (!held && !this.closed) this.ensureBlocks(0, this.snapshot.size, 'prefetch');
    });
  }

  /** Fetched whole by its first read (or its open), never streamed. */
  private get isSmall(): boolean {
    return this.snapshot.size <= this.options.smallObjectThresholdBytes;
  }

  /** The current prefetch window (for tests and debugging). */
  get currentWindowBytes(): number {
    return this.windowBytes;
  }

  /** Whether reads are treated as a stream now. */
  get isSequential(): boolean {
    return this.sequential;
  }

  wholeBlock(): WholeBlock | undefined {
    // One block must hold it all; bytes already in memory are served from there, never read twice.
    if (this.closed || this.disk === undefined || !(this.snapshot.size > 0 && this.isSmall) || this.snapshot.size > this.options.blockSizeBytes) return undefined;
    this.engine.servesCachedRanges = true;
    if (this.cache.isPresent(this.objectId, 0)) return undefined;
    return this.disk.presentWholeBlock();
  }

  engineServed(bytes: number): void {
    this.disk?.engineServed(bytes);
  }

  cachedRange(position: number, length: number): CachedRange | undefined {
    this.engine.servesCachedRanges = true;
    if (this.closed || this.disk === undefined) return undefined;
    // Bytes already in memory (or on their way) are served from there: never read twice, never counted twice.
    if (this.cache.isPresent(this.objectId, Math.floor(position / this.options.blockSizeBytes))) return undefined;
    const range = this.disk.cachedRange(position, length);
    if (range !== undefined) this.engineServedTo = Math.max(this.engineServedTo, position + range.length);
    return range;
  }

  close(): void {
    // Blocks in flight stay shared with other handles; they land in the cache (bounded) or fail.
    this.closed = true;
  }

  /** Tops up the window when the reader came within half a window of the frontier. */
  private prefetchAfter(end: number): void {
    const blockBytes = this.cache.blockSizeBytes;
    this.frontier = Math.max(this.frontier, Math.min(this.snapshot.size, alignUp(end, blockBytes)));
    if (this.frontier >= this.snapshot.size) return;
    if (this.frontier - end >= this.windowBytes / 2) return;
    // Part-aligned targets once the window spans a part: every top-up is then whole parts, which read into
    // reused buffers, and none ends in a stray one-block GET.
    const partBytes = this.options.partSizeBytes;
    const targetAlignment = this.windowBytes >= partBytes ? partBytes : blockBytes;
    const target = Math.min(this.snapshot.size, alignUp(end + this.windowBytes, targetAlignment));
    const reached = this.engineReadsDisk ? this.warmBlocks(this.frontier, target) : this.ensureBlocks(this.frontier, target, 'prefetch');
    this.frontier = Math.max(this.frontier, reached);
    // Under memory pressure the window shrinks instead of growing (mountpoint-s3's memory target).
    this.windowBytes =
      reached >= target
        ? Math.min(this.windowBytes * 2, this.options.maxWindowBytes)
        : Math.max(this.options.initialWindowBytes, this.windowBytes / 2);
  }

  /** The engine serves the disk cache's blocks from their files itself (`cachedRange`). */
  private get engineReadsDisk(): boolean {
    return this.engine.servesCachedRanges && this.disk !== undefined;
  }

  /**
   * Prefetch when the engine reads the disk cache itself: the blocks of `[from, to)` it holds are only opened,
   * so that the reads to come find them open and the engine serves them (read into memory here, they would be
   * checked and copied once more by JS, and their reads served from memory); the blocks it lacks are fetched.
   */
  private warmBlocks(from: number, to: number): number {
    const disk = this.disk;
    if (disk === undefined) return to;
    const blockBytes = this.cache.blockSizeBytes;
    const indexes: number[] = [];
    for (let index = Math.floor(from / blockBytes); index * blockBytes < to; index += 1) {
      if (!this.cache.isPresent(this.objectId, index)) indexes.push(index);
    }
    void Promise.all(indexes.map((index) => disk.warmBlock(index))).then((held) => {
      if (this.closed) return;
      indexes.forEach((index, i) => {
        if (held[i] !== true) this.ensureBlocks(index * blockBytes, Math.min(this.snapshot.size, (index + 1) * blockBytes), 'prefetch');
      });
    });
    return to;
  }

  /**
   * Starts GETs for the blocks of `[from, to)` that are neither cached nor in flight, as runs
   * of at most a part. Returns how far it got: `to`, or where a prefetch found no room.
   */
  private ensureBlocks(from: number, to: number, kind: FetchKind): number {
    const blockBytes = this.cache.blockSizeBytes;
    const maxBlocksPerRun = Math.max(1, Math.floor(this.options.partSizeBytes / blockBytes));
    const lastIndex = Math.ceil(to / blockBytes);
    let index = Math.floor(from / blockBytes);
    while (index < lastIndex) {
      if (this.cache.isPresent(this.objectId, index)) {
        index += 1;
        continue;
      }
      let count = 1;
      while (count < maxBlocksPerRun && index + count < lastIndex && !this.cache.isPresent(this.objectId, index + count)) count += 1;
      const offset = index * blockBytes;
      const lengthBytes = Math.min(this.snapshot.size, offset + count * blockBytes) - offset;
      const run = { objectId: this.objectId, firstIndex: index, count, lengthBytes, ...(this.disk ? { disk: this.disk } : {}) };
      if (!this.cache.startRun(run, kind, this.fetchBytes)) return offset;
      index += count;
    }
    return to;
  }

  private isCovered(from: number, to: number): boolean {
    const blockBytes = this.cache.blockSizeBytes;
    for (let index = Math.floor(from / blockBytes); index * blockBytes < to; index += 1) {
      if (!this.cache.isPresent(this.objectId, index)) return false;
    }
    return true;
  }

  /**
   * The blocks of `[position, end)`, each cached or in flight (fetched now if it was evicted meanwhile). Each
   * block's buffer is held until `copyBlocks` is done with it, a block in flight's from the moment it arrives:
   * making room for a later fetch could otherwise evict it, and its buffer be refilled, before the copy.
   */
  private takeBlocks(position: number, end: number): (ByteChunks | Promise<ByteChunks>)[] {
    const blockBytes = this.cache.blockSizeBytes;
    const blocks: (ByteChunks | Promise<ByteChunks>)[] = [];
    let hit = true;
    try {
      for (let index = Math.floor(position / blockBytes); index * blockBytes < end; index += 1) {
        let block = this.cache.block(this.objectId, index);
        if (block === undefined) {
          this.ensureBlocks(index * blockBytes, Math.min(this.snapshot.size, (index + 1) * blockBytes), 'demand');
          block = this.cache.block(this.objectId, index);
        }
        if (block === undefined) throw new Error(`block ${index} of ${this.snapshot.key} could not be fetched`);
        if (block instanceof Promise) {
          hit = false;
          block = block.then(holdMemory);
        } else {
          holdMemory(block);
        }
        blocks.push(block);
      }
    } catch (error) {
      releaseHeld(blocks);
      throw error;
    }
    this.cache.countRead(hit);
    return blocks;
  }

  private async copyBlocks(target: Buffer, position: number, end: number, blocks: (ByteChunks | Promise<ByteChunks>)[]): Promise<number> {
    const blockBytes = this.cache.blockSizeBytes;
    const firstIndex = Math.floor(position / blockBytes);
    let copied = 0;
    try {
      for (let i = 0; i < blocks.length; i += 1) {
        const block = blocks[i]!;
        // A cached block is copied at once: awaiting a value still costs a trip through the microtask queue.
        const data = block instanceof Promise ? await block : block;
        const blockStart = (firstIndex + i) * blockBytes;
        const count = data.copyTo(target, copied, position + copied - blockStart, end - blockStart);
        if (count === 0) break;
        copied += count;
      }
    } finally {
      releaseHeld(blocks);
    }
    return copied;
  }

  /** A random read: exactly the bytes asked for, in GETs of at most a part, outside the blocks. */
  private async readDirect(target: Buffer, position: number, wanted: number): Promise<number> {
    let copied = 0;
    while (copied < wanted) {
      const length = Math.min(wanted - copied, this.options.partSizeBytes);
      const count = await this.cache.fetchDirect(position + copied, length, this.fetchBytes, target, copied, this.disk);
      if (count === 0) break;
      copied += count;
    }
    return copied;
  }
}

/**
 * Names one version of one object in the cache. Without a version, a changed object could not be
 * told apart: its blocks are private to the open file (`openId`).
 */
export function objectIdOf(namespace: string, snapshot: ObjectSnapshot, openId: number): string {
  const identity = identifiesContent(snapshot) ? objectIdentity(snapshot) : `\u0001open:${openId}`;
  return `${namespace}\u0000${snapshot.key}\u0000${identity}`;
}

/** Open files read through `cache` with per-file prefetch (and the disk cache, where `diskFor` names one). */
export function prefetchingReaderFactory(cache: BlockCache, options: ReadPathOptions, diskFor?: (snapshot: ObjectSnapshot) => CachedObject | undefined): ObjectReaderFactory {
  const namespace = cache.newNamespace();
  const engine = { servesCachedRanges: false };
  let opens = 0;
  return (client: BucketClient, snapshot: ObjectSnapshot) => {
    opens += 1;
    return new PrefetchingReader(cache, client, snapshot, objectIdOf(namespace, snapshot, opens), options, diskFor?.(snapshot), engine);
  };
}

/** How far back a stream that jumped forward looks for blocks to drop. */
const DROP_BEHIND_SCAN_BLOCKS = 64;

function holdMemory(block: ByteChunks): ByteChunks {
  block.memory?.hold();
  return block;
}

/** Lets go of the buffers `takeBlocks` held (a block still in flight's once it arrives). */
function releaseHeld(blocks: readonly (ByteChunks | Promise<ByteChunks>)[]): void {
  for (const block of blocks) {
    if (block instanceof Promise) block.then((arrived) => arrived.memory?.release(), () => {});
    else block.memory?.release();
  }
}

function alignUp(value: number, unit: number): number {
  return Math.ceil(value / unit) * unit;
}
