import { hashText } from './hashing.js';
import { DIR_NODE, type NodeInfo } from './node-info.js';
import { PackedStrings } from './packed-strings.js';
import { NO_SLOT, SlotIndex } from './slot-index.js';

export type CacheLookup = { readonly hit: true; readonly info: NodeInfo | undefined } | { readonly hit: false };

export interface MetadataCacheOptions {
  readonly metadataTtlMs: number;
  readonly negativeMetadataTtlMs: number;
  readonly maxEntries: number;
  readonly now: () => number;
}

/**
 * Path → what lookup found: a node (kept `metadataTtlMs`) or "not found" (kept
 * `negativeMetadataTtlMs`). Bounded by entry count (LRU). Expiry uses the injected clock, so
 * tests move time instead of sleeping. A TTL of 0 disables that kind of entry.
 *
 * `generation` grows with every invalidation: a lookup that started before an unlink must not
 * write back what it saw, so writers pass the generation they started under.
 */
export class MetadataCache {
  private readonly records: NodeInfoLru;
  /**
   * Folders in an LRU of their own, of the same bound: a listing of a million files would
   * otherwise push out the few folders every opendir and getattr of a walk asks for again.
   */
  private readonly folders: NodeInfoLru;
  private currentGeneration = 0;

  constructor(private readonly options: MetadataCacheOptions) {
    this.records = new NodeInfoLru(Math.max(1, options.maxEntries));
    this.folders = new NodeInfoLru(Math.max(1, options.maxEntries));
  }

  get generation(): number {
    return this.currentGeneration;
  }

  get(path: string): CacheLookup {
    let table = this.folders;
    let slot = table.use(path);
    if (slot === NONE) {
      table = this.records;
      slot = table.use(path);
    }
    if (slot === NONE) return { hit: false };
    if (this.options.now() >= table.expiresAtMs(slot)) {
      table.delete(path);
      return { hit: false };
    }
    return { hit: true, info: table.infoAt(slot) };
  }

  setFound(path: string, info: NodeInfo, generation = this.currentGeneration): void {
    if (generation !== this.currentGeneration || this.options.metadataTtlMs <= 0) return;
    const expiresAtMs = this.options.now() + this.options.metadataTtlMs;
    // A listing sets a record for every child: the path is hashed once for both tables.
    const hash = hashText(path);
    if (info.kind === 'dir') {
      this.records.delete(path, hash);
      this.folders.set(path, info, expiresAtMs, hash);
    } else {
      this.folders.delete(path, hash);
      this.records.set(path, info, expiresAtMs, hash);
    }
  }

  setNotFound(path: string, generation = this.currentGeneration): void {
    if (generation !== this.currentGeneration || this.options.negativeMetadataTtlMs <= 0) return;
    this.folders.delete(path);
    this.records.set(path, undefined, this.options.now() + this.options.negativeMetadataTtlMs);
  }

  invalidate(path: string): void {
    this.currentGeneration += 1;
    this.records.delete(path);
    this.folders.delete(path);
  }

  /** Drops every expired record, so memory follows the TTL and not only the bound. */
  sweep(): void {
    const now = this.options.now();
    this.records.deleteExpired(now);
    this.folders.deleteExpired(now);
  }

  clear(): void {
    this.currentGeneration += 1;
    this.records.clear();
    this.folders.clear();
  }

  /** The file `get(path)` would hit and until when (on the cache's clock), without making it recent; else undefined. */
  peekFile(path: string): { readonly info: NodeInfo & { kind: 'file' }; readonly expiresAtMs: number } | undefined {
    const slot = this.records.slotOf(path);
    if (slot === NONE) return undefined;
    const expiresAtMs = this.records.expiresAtMs(slot);
    const info = this.records.infoAt(slot);
    if (info?.kind !== 'file' || this.options.now() >= expiresAtMs) return undefined;
    return { info, expiresAtMs };
  }

  get size(): number {
    return this.records.size + this.folders.size;
  }
}

const NONE = NO_SLOT;
/** Slots an LRU starts with (fewer if its bound is lower); it doubles up to its bound. */
const FIRST_SLOTS = 1024;
const KIND_MISSING = 0;
const KIND_DIR = 1;
const KIND_FILE = 2;

/**
 * Paths with what was found there and until when, least recently used first. The cache may
 * hold a name for every file a walk passes, so it keeps no JS object and no string per entry: an
 * entry is a slot in parallel typed arrays (kind, size, mtime, expiry, the LRU links), its path and
 * version as bytes in a buffer, found through an index of path hashes; the info handed out is made
 * on each hit.
 */
class NodeInfoLru {
  private index = new SlotIndex(0);
  private paths = new PackedStrings(0);
  private versions = new PackedStrings(0);
  private kinds = new Uint8Array(0);
  private sizes = new Float64Array(0);
  private mtimesMs = new Float64Array(0);
  private expiries = new Float64Array(0);
  /** The LRU's links; a slot given back is on a list of its own through `older`, from `freeHead`. */
  private older = new Int32Array(0);
  private newer = new Int32Array(0);
  private freeHead = NONE;
  private used = 0;
  private oldest = NONE;
  private newest = NONE;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.index.size;
  }

  has(path: string): boolean {
    return this.find(path) !== NONE;
  }

  /** The slot of `path`, its recency untouched; NONE when absent. */
  slotOf(path: string): number {
    return this.find(path);
  }

  /** The slot of `path`, made the most recently used; NONE when absent. */
  use(path: string): number {
    const slot = this.find(path);
    if (slot === NONE) return NONE;
    this.unlink(slot);
    this.link(slot);
    return slot;
  }

  expiresAtMs(slot: number): number {
    return this.expiries[slot] as number;
  }

  infoAt(slot: number): NodeInfo | undefined {
    const kind = this.kinds[slot];
    if (kind === KIND_DIR) return DIR_NODE;
    if (kind === KIND_MISSING) return undefined;
    return { kind: 'file', size: this.sizes[slot] as number, mtimeMs: this.mtimesMs[slot] as number, version: this.versions.get(slot) };
  }

  set(path: string, info: NodeInfo | undefined, expiresAtMs: number, hash = hashText(path)): void {
    let slot = this.findHashed(path, hash);
    if (slot === NONE) {
      if (this.index.size >= this.max) this.deleteSlot(this.oldest);
      slot = this.take();
      this.paths.set(slot, path);
      this.index.add(slot, hash);
    } else {
      this.unlink(slot);
    }
    this.link(slot);
    this.expiries[slot] = expiresAtMs;
    if (info === undefined) {
      this.kinds[slot] = KIND_MISSING;
      this.versions.clear(slot);
    } else if (info.kind === 'dir') {
      this.kinds[slot] = KIND_DIR;
      this.versions.clear(slot);
    } else {
      this.kinds[slot] = KIND_FILE;
      this.sizes[slot] = info.size;
      this.mtimesMs[slot] = info.mtimeMs;
      this.versions.set(slot, info.version);
    }
  }

  delete(path: string, hash?: number): void {
    const slot = this.find(path, hash);
    if (slot !== NONE) this.deleteSlot(slot);
  }

  deleteExpired(nowMs: number): void {
    const expired: number[] = [];
    for (let slot = this.oldest; slot !== NONE; slot = this.newer[slot] as number) if (nowMs >= (this.expiries[slot] as number)) expired.push(slot);
    for (const slot of expired) this.deleteSlot(slot);
  }

  clear(): void {
    this.index = new SlotIndex(0);
    this.paths = new PackedStrings(0);
    this.versions = new PackedStrings(0);
    this.kinds = new Uint8Array(0);
    this.sizes = new Float64Array(0);
    this.mtimesMs = new Float64Array(0);
    this.expiries = new Float64Array(0);
    this.older = new Int32Array(0);
    this.newer = new Int32Array(0);
    this.freeHead = NONE;
    this.used = 0;
    this.oldest = NONE;
    this.newest = NONE;
  }

  private find(path: string, hash?: number): number {
    return this.index.size === 0 ? NONE : this.findHashed(path, hash ?? hashText(path));
  }

  private findHashed(path: string, hash: number): number {
    for (let bucket = this.index.first(hash); ; bucket = this.index.next(bucket)) {
      const slot = this.index.slotAt(bucket);
      if (slot === NONE || (this.index.hashOf(slot) === hash && this.paths.equals(slot, path))) return slot;
    }
  }

  private deleteSlot(slot: number): void {
    this.index.delete(slot);
    this.unlink(slot);
    this.paths.clear(slot);
    this.versions.clear(slot);
    this.older[slot] = this.freeHead;
    this.freeHead = slot;
  }

  /** A slot for a new entry: one given back, else the next, growing the arrays (up to the bound). */
  private take(): number {
    if (this.freeHead !== NONE) {
      const reused = this.freeHead;
      this.freeHead = this.older[reused] as number;
      return reused;
    }
    if (this.used === this.kinds.length) this.grow(Math.min(this.max, Math.max(FIRST_SLOTS, this.used * 2)));
    const slot = this.used;
    this.used += 1;
    return slot;
  }

  private grow(capacity: number): void {
    const widen = <T extends Uint8Array | Float64Array | Int32Array>(from: T, to: T): T => {
      to.set(from);
      return to;
    };
    this.kinds = widen(this.kinds, new Uint8Array(capacity));
    this.sizes = widen(this.sizes, new Float64Array(capacity));
    this.mtimesMs = widen(this.mtimesMs, new Float64Array(capacity));
    this.expiries = widen(this.expiries, new Float64Array(capacity));
    this.older = widen(this.older, new Int32Array(capacity));
    this.newer = widen(this.newer, new Int32Array(capacity));
    this.paths.resize(capacity, this.used);
    this.versions.resize(capacity, this.used);
    this.index.resizeSlots(capacity, this.used);
  }

  /** Makes `slot` the newest. */
  private link(slot: number): void {
    this.older[slot] = this.newest;
    this.newer[slot] = NONE;
    if (this.newest === NONE) this.oldest = slot;
    else this.newer[this.newest] = slot;
    this.newest = slot;
  }

  private unlink(slot: number): void {
    const older = this.older[slot] as number;
    const newer = this.newer[slot] as number;
    if (older === NONE) this.oldest = newer;
    else this.newer[older] = newer;
    if (newer === NONE) this.newest = older;
    else this.older[newer] = older;
  }
}
