import { DIR_NODE, type NodeInfo } from './node-info.js';

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
    const table = this.folders.has(path) ? this.folders : this.records;
    const slot = table.use(path);
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
    if (info.kind === 'dir') {
      this.records.delete(path);
      this.folders.set(path, info, expiresAtMs);
    } else {
      this.folders.delete(path);
      this.records.set(path, info, expiresAtMs);
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

  get size(): number {
    return this.records.size + this.folders.size;
  }
}

const NONE = -1;
/** Slots an LRU starts with (fewer if its bound is lower); it doubles up to its bound. */
const FIRST_SLOTS = 1024;
const KIND_MISSING = 0;
const KIND_DIR = 1;
const KIND_FILE = 2;

/**
 * Paths with what was found there and until when, least recently used first. The cache may
 * hold a name for every file a walk passes, so an entry is a slot in parallel typed arrays (kind,
 * size, mtime, expiry, the LRU links) beside its path and version, not an object of its own; the
 * info handed out is made on each hit.
 */
class NodeInfoLru {
  private readonly slots = new Map<string, number>();
  private paths: (string | undefined)[] = [];
  private versions: (string | undefined)[] = [];
  private kinds = new Uint8Array(0);
  private sizes = new Float64Array(0);
  private mtimesMs = new Float64Array(0);
  private expiries = new Float64Array(0);
  private older = new Int32Array(0);
  private newer = new Int32Array(0);
  /** Slots given back, to be taken again before the arrays grow. */
  private readonly free: number[] = [];
  private used = 0;
  private oldest = NONE;
  private newest = NONE;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.slots.size;
  }

  has(path: string): boolean {
    return this.slots.has(path);
  }

  /** The slot of `path`, made the most recently used; NONE when absent. */
  use(path: string): number {
    const slot = this.slots.get(path);
    if (slot === undefined) return NONE;
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
    return { kind: 'file', size: this.sizes[slot] as number, mtimeMs: this.mtimesMs[slot] as number, version: this.versions[slot] };
  }

  set(path: string, info: NodeInfo | undefined, expiresAtMs: number): void {
    let slot = this.slots.get(path);
    if (slot === undefined) {
      if (this.slots.size >= this.max) this.delete(this.paths[this.oldest] as string);
      slot = this.take();
      this.slots.set(path, slot);
      this.paths[slot] = path;
    } else {
      this.unlink(slot);
    }
    this.link(slot);
    this.expiries[slot] = expiresAtMs;
    if (info === undefined) {
      this.kinds[slot] = KIND_MISSING;
      this.versions[slot] = undefined;
    } else if (info.kind === 'dir') {
      this.kinds[slot] = KIND_DIR;
      this.versions[slot] = undefined;
    } else {
      this.kinds[slot] = KIND_FILE;
      this.sizes[slot] = info.size;
      this.mtimesMs[slot] = info.mtimeMs;
      this.versions[slot] = info.version;
    }
  }

  delete(path: string): void {
    const slot = this.slots.get(path);
    if (slot === undefined) return;
    this.slots.delete(path);
    this.unlink(slot);
    this.paths[slot] = undefined;
    this.versions[slot] = undefined;
    this.free.push(slot);
  }

  deleteExpired(nowMs: number): void {
    const expired: string[] = [];
    for (const [path, slot] of this.slots) if (nowMs >= (this.expiries[slot] as number)) expired.push(path);
    for (const path of expired) this.delete(path);
  }

  clear(): void {
    this.slots.clear();
    this.paths = [];
    this.versions = [];
    this.kinds = new Uint8Array(0);
    this.sizes = new Float64Array(0);
    this.mtimesMs = new Float64Array(0);
    this.expiries = new Float64Array(0);
    this.older = new Int32Array(0);
    this.newer = new Int32Array(0);
    this.free.length = 0;
    this.used = 0;
    this.oldest = NONE;
    this.newest = NONE;
  }

  /** A slot for a new entry: one given back, else the next, growing the arrays (up to the bound). */
  private take(): number {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
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
