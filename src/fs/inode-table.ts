import { sameObject, type ObjectSighting } from './object-identity.js';
import { joinPath, parentPath } from './paths.js';

export const ROOT_INO = 1;

/** By default, how many inodes nobody holds are kept, most recently used first. */
export const DEFAULT_IDLE_INODES = 100_000;

/** Slots the table starts with, and never shrinks below. */
const MIN_SLOTS = 1024;
/** Marks a slot field that points at no slot (no parent, no neighbour in the idle list). */
const NONE = -1;
/** `sizes` of a record never seen as a file. */
const NO_SIGHTING = -1;
const ROOT_SLOT = 0;

/** A record that has children: them by name, and its path, which every child's path goes through. */
interface Folder {
  readonly kids: Map<string, number>;
  readonly path: string;
}

/**
 * Inode numbers for paths, with the lifetime the kernel's FUSE contract gives them (as libfuse's
 * `passthrough_ll.c` keeps them): a number handed to the kernel by an entry lives until the kernel
 * forgets every lookup of it. Numbers nobody holds are kept in a bounded LRU, so a path-based
 * engine (which never forgets) and stat-only callers cannot grow the table without bound. Numbers
 * are never reused: a path dropped and seen again gets a new number, which the kernel, having
 * forgotten the old one, cannot confuse.
 *
 * The kernel may hold a number for every file of a walked tree, so a record is a slot in parallel
 * typed arrays rather than an object, and a path is not kept but found from the parent links: a
 * record costs its name, its version and its entry in its folder's map of children. Numbers grow
 * with the slots, so a number is found by binary search; dead slots are squeezed out once they
 * are most of the table, which also gives their memory back after a walk is forgotten.
 */
export class InodeTable {
  /** Slots in use, dead ones included: the arrays below are valid up to here. */
  private used = 0;
  private live = 0;
  private nextIno = ROOT_INO;
  /** By slot: its number; increasing, so that a number is found by binary search. */
  private inos: Float64Array = new Float64Array(MIN_SLOTS);
  /** By slot: the slot of its folder, NONE for the root and for a dead slot. */
  private parents: Int32Array = new Int32Array(MIN_SLOTS);
  /** Lookups the kernel was handed and has not forgotten (LOOKUP, CREATE, READDIRPLUS entries). */
  private lookups: Int32Array = new Int32Array(MIN_SLOTS);
  /** Holds of the engine's own (an entry batch the kernel may still be handed). */
  private holds: Int32Array = new Int32Array(MIN_SLOTS);
  /** The listing pass that last named it (see `markChildListed`). */
  private listedIn: Int32Array = new Int32Array(MIN_SLOTS);
  /** When it was last asked for or let go of (the table's clock). */
  private lastUsedMs: Float64Array = new Float64Array(MIN_SLOTS);
  /** The file as last seen (NO_SIGHTING in `sizes` for folders and before a sighting). */
  private sizes: Float64Array = new Float64Array(MIN_SLOTS);
  private mtimesMs: Float64Array = new Float64Array(MIN_SLOTS);
  private readonly versions = new VersionPool(MIN_SLOTS);
  /** Its name in its folder (`''` for the root). */
  private names: string[] = [];
  /** Children that have a record: a parent lives while they do, since their paths go through it. */
  private folders: (Folder | undefined)[] = [];
  /**
   * Records with no lookups, holds or children, oldest first: the ones that may be dropped. A list
   * through the slots; `idleFlags` says who is on it.
   */
  private idlePrev: Int32Array = new Int32Array(MIN_SLOTS);
  private idleNext: Int32Array = new Int32Array(MIN_SLOTS);
  private idleFlags: Uint8Array = new Uint8Array(MIN_SLOTS);
  private idleHead = NONE;
  private idleTail = NONE;
  private idleCount = 0;
  /** How many times slots were moved: a slot remembered across calls is good only while this stays. */
  private squeezes = 0;

  constructor(
    private readonly maxIdle: number = DEFAULT_IDLE_INODES,
    private readonly now: () => number = Date.now,
  ) {
    const root = this.allocate(NONE, '');
    this.lookups[root] = 1;
    this.lastUsedMs[root] = 0;
  }

  /** The number of a normalized path, assigned on first sight. */
  inoForPath(path: string): number {
    const slot = this.slotFor(path);
    this.evictIdle(slot);
    return this.inos[slot] as number;
  }

  /** The number of a path if it has one now; never assigns. */
  knownIno(path: string): number | undefined {
    const slot = this.findPath(path);
    return slot === NONE ? undefined : this.inos[slot];
  }

  /** The path of a number that is alive, or undefined. */
  pathForIno(ino: number): string | undefined {
    const slot = this.findIno(ino);
    return slot === NONE ? undefined : this.pathOf(slot);
  }

  /** The path of `name` inside the directory numbered `parentIno`, or undefined if unknown. */
  childPath(parentIno: number, name: string): string | undefined {
    const slot = this.findIno(parentIno);
    return slot === NONE ? undefined : joinPath(this.pathOf(slot), name);
  }

  /** The kernel was handed `ino` once more (an entry reply). */
  addLookup(ino: number): void {
    this.addLookups(ino, 1);
  }

  addLookups(ino: number, count: number): void {
    const slot = this.findIno(ino);
    if (slot === NONE || slot === ROOT_SLOT) return;
    this.lookups[slot] = (this.lookups[slot] as number) + count;
    this.settle(slot);
  }

  /**
   * The kernel forgot `count` lookups of `ino` (FORGET, BATCH_FORGET). The count may go below
   * zero for a moment: the kernel can forget an entry of a batch whose lookups are counted only
   * when the batch is settled.
   */
  forget(ino: number, count: number): void {
    const slot = this.findIno(ino);
    if (slot === NONE || slot === ROOT_SLOT) return;
    this.lookups[slot] = (this.lookups[slot] as number) - count;
    // A number the kernel forgot is of no use to anyone: it goes now, not after the idle LRU.
    if (this.isIdle(slot)) {
      this.remove(slot);
      this.evictIdle(NONE);
      this.squeezeIfSparse();
    } else {
      this.settle(slot);
    }
  }

  /** Keeps `ino` alive until `release`, whoever else lets go of it. */
  hold(ino: number): void {
    const slot = this.findIno(ino);
    if (slot !== NONE) this.holdSlot(slot);
  }

  release(ino: number): void {
    const slot = this.findIno(ino);
    if (slot === NONE || this.holds[slot] === 0) return;
    this.holds[slot] = (this.holds[slot] as number) - 1;
    this.settle(slot);
  }

  /**
   * Records what a file looks like now; returns true when it was seen before as another object,
   * i.e. the kernel's copy of it is stale. Only paths that have a number are tracked: a path
   * without one is held by nobody, so nothing can be stale.
   */
  sawSighting(path: string, sighting: ObjectSighting): boolean {
    const slot = this.findPath(path);
    return slot !== NONE && this.resight(slot, sighting);
  }

  /** The numbered children of `dirPath` that listing pass `pass` did not name. */
  childrenNotListed(dirPath: string, pass: number): string[] {
    const missing: string[] = [];
    const slot = this.findPath(dirPath);
    const folder = slot === NONE ? undefined : this.folders[slot];
    if (folder === undefined) return missing;
    const mark = pass | 0;
    for (const [name, child] of folder.kids) if (this.listedIn[child] !== mark) missing.push(joinPath(folder.path, name));
    return missing;
  }

  /** Drops the number of `path` now if nobody holds it (the name is gone from the store). */
  dropIfIdle(path: string): void {
    const slot = this.findPath(path);
    if (slot !== NONE && this.isIdle(slot)) {
      this.remove(slot);
      this.squeezeIfSparse();
    }
  }

  /**
   * A file was renamed: its number now names `to`, as the kernel, which keeps the inode across a rename,
   * believes. A number that named `to` before is dropped (the kernel dropped that name too). Folders
   * (records with children) are not moved.
   */
  rename(from: string, to: string): void {
    const found = this.findPath(from);
    if (found === NONE || found === ROOT_SLOT || this.folders[found] !== undefined) return;
    const replaced = this.findPath(to);
    if (replaced === found) return;
    if (replaced !== NONE) {
      if (this.folders[replaced] !== undefined) return;
      this.remove(replaced);
    }
    const ino = this.inos[found] as number;
    // Making the new parent may move slots: find both again after it.
    const parent = this.slotFor(parentPath(to));
    const slot = this.findIno(ino);
    this.detach(slot);
    this.attach(slot, parent, to.slice(to.lastIndexOf('/') + 1));
    this.settle(slot, true, false);
  }

  get size(): number {
    return this.live;
  }

  /** How many numbers the kernel or the engine holds (not dropped by the LRU). */
  get heldCount(): number {
    return this.live - this.idleCount;
  }

  /**
   * Numbers children of `dirPath` by name, marking each as named by listing pass `pass`, with the
   * folder found once: a listing numbers thousands of names. A file's `sighting` is recorded as by
   * `sawSighting`, and `stale` says the number's copy in the kernel went stale. `hold`: each number
   * is held (as by `hold`) from its making, for entries the engine hands out in a batch. Use it at
   * once: the folder is not held for later.
   */
  childNumberer(dirPath: string, hold: boolean): (name: string, pass: number, sighting: ObjectSighting | undefined) => { ino: number; stale: boolean; path: string } {
    let dir = this.slotFor(dirPath);
    let squeezesSeen = this.squeezes;
    this.evictIdle(dir);
    return (name, pass, sighting) => {
      // A squeeze moves slots, and an eviction may have taken the folder: find it again (or anew) then.
      if (squeezesSeen !== this.squeezes || (dir !== ROOT_SLOT && this.parents[dir] === NONE)) {
        dir = this.slotFor(dirPath);
        squeezesSeen = this.squeezes;
      }
      let slot = this.folders[dir]?.kids.get(name);
      if (slot === undefined) {
        slot = this.createChild(dir, name, hold);
      } else {
        this.touch(slot);
        if (hold) this.holdSlot(slot);
      }
      this.listedIn[slot] = pass | 0;
      const stale = sighting !== undefined && this.resight(slot, sighting);
      this.evictIdle(slot);
      return new NumberedChild(this.inos[slot] as number, stale, dirPath, name);
    };
  }

  /** Marks the numbered child `name` of `dirPath`, if there is one, as named by listing pass `pass`. */
  markChildListed(dirPath: string, name: string, pass: number): void {
    const slot = this.findPath(dirPath);
    const child = slot === NONE ? undefined : this.folders[slot]?.kids.get(name);
    if (child !== undefined) this.listedIn[child] = pass | 0;
  }

  /** Drops the idle numbers last used before `cutoffMs`, and the folders they leave idle. */
  sweepIdleBefore(cutoffMs: number): void {
    let dropped: boolean;
    do {
      dropped = false;
      const candidates: number[] = [];
      for (let slot = this.idleHead; slot !== NONE; slot = this.idleNext[slot] as number) if ((this.lastUsedMs[slot] as number) < cutoffMs) candidates.push(slot);
      for (const slot of candidates) {
        // An earlier removal may have made it busy again (never) or left it as it was; only idle ones go.
        if (this.idleFlags[slot] === 0 || (this.lastUsedMs[slot] as number) >= cutoffMs) continue;
        this.remove(slot);
        dropped = true;
      }
    } while (dropped);
    this.squeezeIfSparse();
  }

  /** Records `sighting` on `slot`; true when it had been seen before as another object. */
  private resight(slot: number, sighting: ObjectSighting): boolean {
    const previousSize = this.sizes[slot] as number;
    const stale = previousSize !== NO_SIGHTING && !sameObject({ version: this.versions.get(slot), size: previousSize, mtimeMs: this.mtimesMs[slot] }, sighting);
    this.sizes[slot] = sighting.size;
    this.mtimesMs[slot] = sighting.mtimeMs ?? 0;
    this.versions.set(slot, sighting.version);
    return stale;
  }

  private pathOf(slot: number): string {
    const folder = this.folders[slot];
    if (folder !== undefined) return folder.path;
    if (slot === ROOT_SLOT) return '/';
    return joinPath(this.pathOf(this.parents[slot] as number), this.names[slot] as string);
  }

  /** The slot of a normalized path, or NONE; each name is looked up in its folder's map. */
  private findPath(path: string): number {
    let slot = ROOT_SLOT;
    let start = 1;
    while (start < path.length) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      const child = this.folders[slot]?.kids.get(path.slice(start, end));
      if (child === undefined) return NONE;
      slot = child;
      start = end + 1;
    }
    return slot;
  }

  /** The slot of a normalized path, made (with its folders) if need be; the deepest one that was there is touched. */
  private slotFor(path: string): number {
    let slot = ROOT_SLOT;
    let start = 1;
    let made = false;
    while (start < path.length) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      const name = path.slice(start, end);
      let child = made ? undefined : this.folders[slot]?.kids.get(name);
      if (child === undefined) {
        if (!made) this.touch(slot);
        made = true;
        child = this.createChild(slot, name, false);
      }
      slot = child;
      start = end + 1;
    }
    if (!made) this.touch(slot);
    return slot;
  }

  /** The slot of a live number, or NONE. */
  private findIno(ino: number): number {
    let low = 0;
    let high = this.used - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const at = this.inos[middle] as number;
      if (at < ino) low = middle + 1;
      else if (at > ino) high = middle - 1;
      else return middle === ROOT_SLOT || this.parents[middle] !== NONE ? middle : NONE;
    }
    return NONE;
  }

  private touch(slot: number): void {
    this.lastUsedMs[slot] = this.now();
    if (this.idleFlags[slot] !== 0) {
      this.unlinkIdle(slot);
      this.linkIdle(slot);
    }
  }

  private holdSlot(slot: number): void {
    this.holds[slot] = (this.holds[slot] as number) + 1;
    if (this.idleFlags[slot] !== 0) this.unlinkIdle(slot);
  }

  /** A new record under `parent`; `held` starts it with one hold, so it never passes through the idle LRU. */
  private createChild(parent: number, name: string, held: boolean): number {
    if (this.used === this.inos.length) {
      const parentIno = this.inos[parent] as number;
      this.makeRoom();
      parent = this.findIno(parentIno);
    }
    const slot = this.allocate(parent, name);
    this.attach(slot, parent, name);
    this.holds[slot] = held ? 1 : 0;
    if (!held) this.linkIdle(slot);
    return slot;
  }

  /** Takes the next slot (there is room) for a new number. */
  private allocate(parent: number, name: string): number {
    const slot = this.used;
    this.used += 1;
    this.live += 1;
    this.inos[slot] = this.nextIno;
    this.nextIno += 1;
    this.parents[slot] = parent;
    this.names[slot] = name;
    this.lookups[slot] = 0;
    this.holds[slot] = 0;
    this.listedIn[slot] = 0;
    this.lastUsedMs[slot] = this.now();
    this.sizes[slot] = NO_SIGHTING;
    this.mtimesMs[slot] = 0;
    this.versions.clear(slot);
    this.folders[slot] = undefined;
    this.idleFlags[slot] = 0;
    return slot;
  }

  private isIdle(slot: number): boolean {
    return slot !== ROOT_SLOT && (this.lookups[slot] as number) <= 0 && this.holds[slot] === 0 && this.folders[slot] === undefined;
  }

  /**
   * Files `slot` as idle or not. `letGo`: someone just let go of it (a forget, a release), which
   * counts as a use; a folder left idle by its last child is not. `evict` is false when an
   * eviction is under way already.
   */
  private settle(slot: number, evict = true, letGo = true): void {
    if (this.idleFlags[slot] !== 0) this.unlinkIdle(slot);
    if (letGo) this.lastUsedMs[slot] = this.now();
    if (!this.isIdle(slot)) return;
    this.linkIdle(slot);
    if (evict) this.evictIdle(NONE);
  }

  /** Drops the least recently used idle numbers past the bound; `keep` (just handed out) is never one. */
  private evictIdle(keep: number): void {
    if (this.idleCount <= this.maxIdle) return;
    while (this.idleCount > this.maxIdle) {
      const oldest = this.idleHead;
      if (oldest === keep) {
        if (this.idleCount === 1) break;
        this.unlinkIdle(keep);
        this.linkIdle(keep);
        continue;
      }
      this.remove(oldest);
    }
    this.squeezeIfSparse();
  }

  private remove(slot: number): void {
    if (this.idleFlags[slot] !== 0) this.unlinkIdle(slot);
    this.detach(slot);
    this.names[slot] = '';
    this.versions.clear(slot);
    this.folders[slot] = undefined;
    this.live -= 1;
  }

  /** Takes `slot` out of its folder (which may go idle): it has no parent afterwards. */
  private detach(slot: number): void {
    const parent = this.parents[slot] as number;
    this.parents[slot] = NONE;
    if (parent === NONE) return;
    const folder = this.folders[parent];
    if (folder !== undefined) {
      folder.kids.delete(this.names[slot] as string);
      if (folder.kids.size === 0) this.folders[parent] = undefined;
    }
    this.settle(parent, false, false);
  }

  /** Files `slot` as `name` in the folder `parent`, which stops being idle. */
  private attach(slot: number, parent: number, name: string): void {
    let folder = this.folders[parent];
    if (folder === undefined) {
      folder = { kids: new Map(), path: this.pathOf(parent) };
      this.folders[parent] = folder;
      if (this.idleFlags[parent] !== 0) this.unlinkIdle(parent);
    }
    folder.kids.set(name, slot);
    this.parents[slot] = parent;
    this.names[slot] = name;
  }

  private linkIdle(slot: number): void {
    this.idleFlags[slot] = 1;
    this.idlePrev[slot] = this.idleTail;
    this.idleNext[slot] = NONE;
    if (this.idleTail === NONE) this.idleHead = slot;
    else this.idleNext[this.idleTail] = slot;
    this.idleTail = slot;
    this.idleCount += 1;
  }

  private unlinkIdle(slot: number): void {
    const prev = this.idlePrev[slot] as number;
    const next = this.idleNext[slot] as number;
    if (prev === NONE) this.idleHead = next;
    else this.idleNext[prev] = next;
    if (next === NONE) this.idleTail = prev;
    else this.idlePrev[next] = prev;
    this.idleFlags[slot] = 0;
    this.idleCount -= 1;
  }

  /** The slots are full: squeeze the dead ones out if they are a quarter or more, else grow. */
  private makeRoom(): void {
    if ((this.used - this.live) * 4 >= this.used) this.squeeze(Math.max(MIN_SLOTS, this.used));
    else this.squeeze(this.used * 2);
  }

  /** After removals: once three quarters of the slots are dead, squeeze them out and give the memory back. */
  private squeezeIfSparse(): void {
    if (this.used > MIN_SLOTS && this.live * 4 < this.used) this.squeeze(Math.max(MIN_SLOTS, this.live * 2));
  }

  /**
   * Moves the live slots down over the dead ones, in place and in order (numbers stay increasing),
   * then fits the arrays to `capacity`: new arrays only when the capacity changes.
   */
  private squeeze(capacity: number): void {
    if (this.live === this.used) {
      this.resize(capacity);
      return;
    }
    const used = this.used;
    const moved = new Int32Array(used);
    let count = 0;
    // New places first: a renamed file may sit before the folder it moved to.
    for (let slot = 0; slot < used; slot += 1) {
      const dead = slot !== ROOT_SLOT && this.parents[slot] === NONE;
      moved[slot] = dead ? NONE : count;
      if (!dead) count += 1;
    }
    for (let slot = 0; slot < used; slot += 1) {
      const to = moved[slot] as number;
      if (to === NONE) continue;
      const parent = this.parents[slot] as number;
      this.parents[to] = parent === NONE ? NONE : (moved[parent] as number);
      if (to !== slot) this.copySlot(slot, to);
    }
    for (let slot = 0; slot < count; slot += 1) {
      if (this.idleFlags[slot] !== 0) {
        const prev = this.idlePrev[slot] as number;
        const next = this.idleNext[slot] as number;
        this.idlePrev[slot] = prev === NONE ? NONE : (moved[prev] as number);
        this.idleNext[slot] = next === NONE ? NONE : (moved[next] as number);
      }
      const kids = this.folders[slot]?.kids;
      if (kids !== undefined) for (const [name, child] of kids) kids.set(name, moved[child] as number);
    }
    if (this.idleHead !== NONE) this.idleHead = moved[this.idleHead] as number;
    if (this.idleTail !== NONE) this.idleTail = moved[this.idleTail] as number;
    // The strings and folders of the slots past the live ones are let go.
    this.names.length = count;
    this.versions.squeezed(count);
    this.folders.length = count;
    this.used = count;
    this.squeezes += 1;
    if (capacity !== this.inos.length) this.resize(capacity);
  }

  private copySlot(from: number, to: number): void {
    this.inos[to] = this.inos[from] as number;
    this.lookups[to] = this.lookups[from] as number;
    this.holds[to] = this.holds[from] as number;
    this.listedIn[to] = this.listedIn[from] as number;
    this.lastUsedMs[to] = this.lastUsedMs[from] as number;
    this.sizes[to] = this.sizes[from] as number;
    this.mtimesMs[to] = this.mtimesMs[from] as number;
    this.idlePrev[to] = this.idlePrev[from] as number;
    this.idleNext[to] = this.idleNext[from] as number;
    this.idleFlags[to] = this.idleFlags[from] as number;
    this.names[to] = this.names[from] as string;
    this.versions.move(from, to);
    this.folders[to] = this.folders[from];
  }

  /** New typed arrays of `capacity` holding the slots in use. */
  private resize(capacity: number): void {
    const count = this.used;
    const fit = <T extends Float64Array | Int32Array | Uint8Array>(from: T, to: T): T => {
      to.set(from.subarray(0, count));
      return to;
    };
    this.inos = fit(this.inos, new Float64Array(capacity));
    this.parents = fit(this.parents, new Int32Array(capacity));
    this.lookups = fit(this.lookups, new Int32Array(capacity));
    this.holds = fit(this.holds, new Int32Array(capacity));
    this.listedIn = fit(this.listedIn, new Int32Array(capacity));
    this.lastUsedMs = fit(this.lastUsedMs, new Float64Array(capacity));
    this.sizes = fit(this.sizes, new Float64Array(capacity));
    this.mtimesMs = fit(this.mtimesMs, new Float64Array(capacity));
    this.idlePrev = fit(this.idlePrev, new Int32Array(capacity));
    this.idleNext = fit(this.idleNext, new Int32Array(capacity));
    this.idleFlags = fit(this.idleFlags, new Uint8Array(capacity));
    this.versions.resize(capacity, count);
  }
}

/** A child as `childNumberer` numbered it; its path is made only if asked for (a stale one, rarely). */
class NumberedChild {
  constructor(
    readonly ino: number,
    readonly stale: boolean,
    private readonly dirPath: string,
    private readonly name: string,
  ) {}

  get path(): string {
    return joinPath(this.dirPath, this.name);
  }
}

/** `lengths` of a slot without a version. */
const NO_VERSION = 0xffff;
/** `lengths` of a slot whose version is kept as a string (longer, or not one byte per character). */
const WIDE_VERSION = 0xfffe;
const LATIN1_MAX = 0xff;

/**
 * Each slot's version as bytes in one pool, outside the JS heap: a walk leaves a version for every
 * file the kernel holds, and a million small strings are heap the collector walks again and again.
 * A version that is not one byte per character is kept as a string, by slot.
 */
class VersionPool {
  private starts: Uint32Array;
  private lengths: Uint16Array;
  private bytes = new Uint8Array(MIN_SLOTS * 8);
  private bytesUsed = 0;
  private bytesDead = 0;
  private wide = new Map<number, string>();

  constructor(capacity: number) {
    this.starts = new Uint32Array(capacity);
    this.lengths = new Uint16Array(capacity).fill(NO_VERSION);
  }

  get(slot: number): string | undefined {
    const length = this.lengths[slot] as number;
    if (length === NO_VERSION) return undefined;
    if (length === WIDE_VERSION) return this.wide.get(slot);
    const start = this.starts[slot] as number;
    let text = '';
    for (let index = start; index < start + length; index += 1) text += String.fromCharCode(this.bytes[index] as number);
    return text;
  }

  set(slot: number, version: string | undefined): void {
    if (version === undefined || version.length >= WIDE_VERSION || !isLatin1(version)) {
      this.clear(slot);
      if (version === undefined) return;
      this.lengths[slot] = WIDE_VERSION;
      this.wide.set(slot, version);
      return;
    }
    const length = this.lengths[slot] as number;
    // The same version again (the usual sighting) writes nothing; a shorter one is written over the old.
    if (length < WIDE_VERSION && length >= version.length) {
      const start = this.starts[slot] as number;
      if (length === version.length && this.equals(start, version)) return;
      this.write(start, version);
      this.bytesDead += length - version.length;
      this.lengths[slot] = version.length;
      return;
    }
    this.clear(slot);
    if (this.bytesUsed + version.length > this.bytes.length) this.makeRoom(version.length);
    this.starts[slot] = this.bytesUsed;
    this.lengths[slot] = version.length;
    this.write(this.bytesUsed, version);
    this.bytesUsed += version.length;
  }

  clear(slot: number): void {
    const length = this.lengths[slot] as number;
    if (length === WIDE_VERSION) this.wide.delete(slot);
    else if (length !== NO_VERSION) this.bytesDead += length;
    this.lengths[slot] = NO_VERSION;
  }

  /** The slot `from` moves down to `to` (a squeeze); `to` was dead. */
  move(from: number, to: number): void {
    this.starts[to] = this.starts[from] as number;
    this.lengths[to] = this.lengths[from] as number;
    this.lengths[from] = NO_VERSION;
    const wide = this.wide.get(from);
    if (wide !== undefined) {
      this.wide.delete(from);
      this.wide.set(to, wide);
    }
  }

  /** The table squeezed its slots down to `count`: the slots past them hold nothing. */
  squeezed(count: number): void {
    this.lengths.fill(NO_VERSION, count);
    this.repack(Math.max(MIN_SLOTS * 8, (this.bytesUsed - this.bytesDead) * 2), count);
  }

  resize(capacity: number, count: number): void {
    const starts = new Uint32Array(capacity);
    const lengths = new Uint16Array(capacity).fill(NO_VERSION);
    starts.set(this.starts.subarray(0, count));
    lengths.set(this.lengths.subarray(0, count));
    this.starts = starts;
    this.lengths = lengths;
  }

  /** The pool is full: repack it without its dead bytes, into a larger one if they are not most of it. */
  private makeRoom(needed: number): void {
    const live = this.bytesUsed - this.bytesDead;
    const size = Math.max(this.bytes.length, Math.ceil((live + needed) * 1.5));
    this.repack(size, this.lengths.length);
  }

  /** Copies the versions of the first `count` slots into a pool of `size` bytes, in slot order. */
  private repack(size: number, count: number): void {
    const bytes = new Uint8Array(size);
    let used = 0;
    for (let slot = 0; slot < count; slot += 1) {
      const length = this.lengths[slot] as number;
      if (length >= WIDE_VERSION) continue;
      const start = this.starts[slot] as number;
      bytes.set(this.bytes.subarray(start, start + length), used);
      this.starts[slot] = used;
      used += length;
    }
    this.bytes = bytes;
    this.bytesUsed = used;
    this.bytesDead = 0;
  }

  private write(start: number, version: string): void {
    for (let index = 0; index < version.length; index += 1) this.bytes[start + index] = version.charCodeAt(index);
  }

  private equals(start: number, version: string): boolean {
    for (let index = 0; index < version.length; index += 1) if (this.bytes[start + index] !== version.charCodeAt(index)) return false;
    return true;
  }
}

function isLatin1(text: string): boolean {
  for (let index = 0; index < text.length; index += 1) if (text.charCodeAt(index) > LATIN1_MAX) return false;
  return true;
}
