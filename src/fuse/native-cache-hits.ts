import type { Logger } from 'pino';
import type { CachedRange, PathFilesystem } from '../fs/types.js';
import type { NativeAddon, NativeContext } from './native-addon.js';

/** A core whose reads the local cache may hold (see `CachedRange`). */
export type CacheRanges = Pick<PathFilesystem, 'cachedRange'>;

/** Numbers per range in `replyCached`: fd, filePosition, length, pieceBytes, firstPieceFilePosition, pieceCount. */
export const CACHE_RANGE_NUMBERS = 6;
/** Ranges at most in one read (native/cache_read.c refuses more): a read spans a few blocks. */
export const MAX_CACHE_RANGES_PER_READ = 16;
/** Set in a READ's flags when the engine could not serve its cache hit (native/mount_context.h). */
export const READ_AFTER_CACHE_FAILURE = 0x40000000;
/** What failed, in bits 16-23 of those flags; the failing range's index is in bits 0-15. */
export const CacheFailure = { checksumMismatch: 1, shortRead: 2, readError: 3 } as const;

const MAX_READ_BYTES = 1024 * 1024;
/** Numbers per block in `lendRanges`: the object position of its first byte, then a range's CACHE_RANGE_NUMBERS. */
export const LENT_RANGE_NUMBERS = 1 + CACHE_RANGE_NUMBERS;
/** Bytes lent past a read at most; native/lent_ranges.c asks for more once less than half of it is left. */
export const LEND_AHEAD_BYTES = 16 * MAX_READ_BYTES;
/** Blocks in one `lendRanges` at most (native/lent_ranges.c keeps twice as many per handle). */
const LEND_MAX_BLOCKS = 16;

/** The ranges of one read, as the engine takes them. */
export interface CacheHit {
  readonly ranges: readonly CachedRange[];
  readonly numbers: Float64Array;
  readonly crcs: Uint32Array;
  /** Bytes the ranges hold, from the read's position on; the rest is read as usual. */
  readonly covered: number;
}

function piecesCovering(range: CachedRange): number {
  return Math.ceil((range.filePosition - range.firstPieceFilePosition + range.length) / range.pieceBytes);
}

/** A range the engine can serve as given; any other is the core's mistake, read as usual instead. */
function servable(range: CachedRange, wanted: number): boolean {
  const skip = range.filePosition - range.firstPieceFilePosition;
  return (
    Number.isInteger(range.fd) && range.fd >= 0 &&
    Number.isInteger(range.length) && range.length >= 1 && range.length <= wanted &&
    Number.isInteger(range.pieceBytes) && range.pieceBytes >= 1 &&
    Number.isInteger(skip) && skip >= 0 && skip < range.pieceBytes &&
    range.pieceCrcs.length === piecesCovering(range)
  );
}

/**
 * The cached ranges of a read at `position`, in order, as far as the cache holds it (a read may span
 * blocks); undefined when it holds none of its first byte. A range the engine could not serve is
 * released and ends the hit there.
 */
export function collectCacheHit(fs: CacheRanges, fh: number, position: number, length: number): CacheHit | undefined {
  if (length > MAX_READ_BYTES) return undefined;
  const { ranges, covered } = rangesFrom(fs, fh, position, length, MAX_CACHE_RANGES_PER_READ);
  if (ranges.length === 0) return undefined;
  return { ranges, ...packed(ranges), covered };
}

/** The cached ranges from `position` on, in order, up to `length` bytes and `maxRanges` ranges, as far as the cache holds them. */
function rangesFrom(fs: CacheRanges, fh: number, position: number, length: number, maxRanges: number): { ranges: CachedRange[]; covered: number } {
  const ranges: CachedRange[] = [];
  let covered = 0;
  while (fs.cachedRange !== undefined && covered < length && ranges.length < maxRanges) {
    const range = fs.cachedRange(fh, position + covered, length - covered);
    if (range === undefined) break;
    if (!servable(range, length - covered)) {
      range.release();
      break;
    }
    ranges.push(range);
    covered += range.length;
  }
  return { ranges, covered };
}

/**
 * The ranges as the engine takes them: CACHE_RANGE_NUMBERS numbers each (after `positions[i]`, the object position
 * of range i's first byte, when given), and their pieces' CRCs in order.
 */
function packed(ranges: readonly CachedRange[], positions?: readonly number[]): { numbers: Float64Array; crcs: Uint32Array } {
  const lead = positions === undefined ? 0 : 1;
  const stride = lead + CACHE_RANGE_NUMBERS;
  const numbers = new Float64Array(ranges.length * stride);
  const crcs = new Uint32Array(ranges.reduce((sum, range) => sum + range.pieceCrcs.length, 0));
  let crcAt = 0;
  ranges.forEach((range, index) => {
    if (positions !== undefined) numbers[index * stride] = positions[index] ?? 0;
    numbers.set([range.fd, range.filePosition, range.length, range.pieceBytes, range.firstPieceFilePosition, range.pieceCrcs.length], index * stride + lead);
    crcs.set(range.pieceCrcs, crcAt);
    crcAt += range.pieceCrcs.length;
  });
  return { numbers, crcs };
}

/**
 * Lends handle `fh` the cached blocks from `position` on, as far as the cache holds them with their files open
 * (up to LEND_AHEAD_BYTES): the engine then serves the reads they cover without asking (native/lent_ranges.c).
 * The ranges are done once the engine took its own descriptors; a failed lend only leaves the reads to ask.
 */
export function lendAhead(fs: CacheRanges, addon: Pick<NativeAddon, 'lendRanges'>, context: NativeContext, fh: number, position: number, logger: Logger): void {
  const { ranges } = rangesFrom(fs, fh, position, LEND_AHEAD_BYTES, LEND_MAX_BLOCKS);
  if (ranges.length === 0) return;
  const positions: number[] = [];
  ranges.reduce((at, range) => {
    positions.push(at);
    return at + range.length;
  }, position);
  try {
    const { numbers, crcs } = packed(ranges, positions);
    addon.lendRanges(context, fh, numbers, crcs);
  } catch (error) {
    logger.debug({ err: error }, 'lending cached blocks to the engine failed');
  } finally {
    for (const range of ranges) {
      if (range.lent !== undefined) range.lent();
      else range.release();
    }
  }
}

function releaseAll(ranges: readonly CachedRange[], logger: Logger): void {
  for (const range of ranges) {
    try {
      range.release();
    } catch (error) {
      logger.debug({ err: error }, 'releasing a cached range failed');
    }
  }
}

/** What the engine reports of the handles it serves from their whole block (`WholeBlock`) or from lent blocks. */
export interface WholeBlockReports {
  served(fh: number, bytes: number, seconds: number): void;
  released(fh: number, seconds: number): void;
  lacking(fh: number): void;
  /** What is lent to the handle runs out at `position`: lend from there (`lendAhead`). */
  lendFrom(fh: number, position: number): void;
  /** The engine opened file `ino` alone, from its offer, as handle `fh` (see `OpenOffer`). */
  opened(fh: number, ino: number): void;
  /** The engine released handle `fh` of its own, for which the core had opened the file as `coreFh` (a bad block). */
  releasedWithCore(fh: number, coreFh: number): void;
}
/** The byte count of a report that the handle holds no whole block. */
const LACKING = -2;
/** The byte count of a report that the engine opened the handle itself; the third number is the inode. */
const OPENED = -3;
/** The byte count of a report that the engine released its handle; the third number is the core's handle of it. */
const RELEASED_WITH_CORE = -4;
/** The byte count of a report asking for blocks lent from a position (in place of the seconds). */
const LEND_WANTED = -5;

/** The cached ranges the engine is serving, by request id, until it says it is done with them. */
export class HeldCacheRanges {
  private readonly held = new Map<number, readonly CachedRange[]>();
  private readErrorSaid = false;
  private hitPathSaid = false;

  constructor(
    readonly logger: Logger,
    private readonly libfuseVersion: number,
  ) {}

  hold(id: number, ranges: readonly CachedRange[]): void {
    if (!this.hitPathSaid) {
      this.hitPathSaid = true;
      this.logger.info(cacheHitPathNote(this.libfuseVersion));
    }
    this.held.set(id, ranges);
  }

  release(id: number): void {
    const ranges = this.held.get(id);
    if (ranges === undefined) return;
    this.held.delete(id);
    releaseAll(ranges, this.logger);
  }

  /**
   * The engine served these hits (`tokens`: doubles, as native/cache_read.c sends them): a request's id, whose
   * ranges are released, or three numbers of a handle served from its whole block: minus its number, the bytes
   * of one read, or -1 when the engine released it (answered already: the kernel waits for nothing), or -2 when
   * it found no block to hold (the core reads that file itself), -3 when it opened the handle itself (the third
   * number is then the file's inode), -4 when it released such a handle the core opened the file for too (the
   * third number is the core's handle), and the seconds; or -5 and the object position the handle's lent blocks
   * run out at.
   */
  settle(tokens: Buffer | undefined, whole: WholeBlockReports): void {
    if (tokens === undefined) return;
    for (let offset = 0; offset + 8 <= tokens.length; offset += 8) {
      const token = tokens.readDoubleLE(offset);
      if (token >= 0) {
        this.release(token);
        continue;
      }
      if (offset + 24 > tokens.length) return;
      const bytes = tokens.readDoubleLE(offset + 8);
      const seconds = tokens.readDoubleLE(offset + 16);
      offset += 16;
      try {
        if (bytes >= 0) whole.served(-token, bytes, seconds);
        else if (bytes === LACKING) whole.lacking(-token);
        else if (bytes === LEND_WANTED) whole.lendFrom(-token, seconds);
        else if (bytes === OPENED) whole.opened(-token, seconds);
        else if (bytes === RELEASED_WITH_CORE) whole.releasedWithCore(-token, seconds);
        else whole.released(-token, seconds);
      } catch (error) {
        this.logger.debug({ err: error }, 'counting a whole-block hit failed');
      }
    }
  }

  /** The engine could not serve request `id` from the cache (`flags` say why): a block at fault is dropped. */
  failed(id: number, flags: number): void {
    const ranges = this.held.get(id);
    if (ranges === undefined) return;
    const kind = (flags >> 16) & 0xff;
    const range = ranges[flags & 0xffff];
    if (range !== undefined && (kind === CacheFailure.checksumMismatch || kind === CacheFailure.shortRead)) {
      this.logger.warn({ why: kind === CacheFailure.checksumMismatch ? 'checksum mismatch' : 'block file too short' }, 'a cached block is corrupt: dropped, the read goes to the store');
      try {
        range.corrupt();
      } catch (error) {
        this.logger.debug({ err: error }, 'dropping a corrupt cached block failed');
      }
    } else if (!this.readErrorSaid) {
      // The cache's disk, not one block: said once, each such read goes to the store.
      this.readErrorSaid = true;
      this.logger.warn('a cached block could not be read (the cache folder\'s disk?): such reads go to the store');
    }
    this.release(id);
  }

  /** The session ended: nothing the engine held is needed any more. */
  releaseEverything(): void {
    for (const id of [...this.held.keys()]) this.release(id);
  }

  get size(): number {
    return this.held.size;
  }
}

/** FUSE passthrough (the kernel reading a hit's block file itself) came with libfuse 3.16. */
const PASSTHROUGH_LIBFUSE_VERSION = 316;

/** How this build serves cache hits, for the mount's log. */
export function cacheHitPathNote(libfuseVersion: number): string {
  const version = `${Math.floor(libfuseVersion / 100)}.${libfuseVersion % 100}`;
  return libfuseVersion >= PASSTHROUGH_LIBFUSE_VERSION
    ? `cache hits are read and checked by the engine's worker threads (libfuse ${version} has FUSE passthrough; this build does not use it)`
    : `cache hits are read and checked by the engine's worker threads (FUSE passthrough needs libfuse 3.16; this is ${version})`;
}
