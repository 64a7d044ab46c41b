import { identityPrint, type ObjectSighting } from './object-identity.js';
import { hashText } from './hashing.js';
import { PackedStrings } from './packed-strings.js';
import { NO_SLOT, SlotIndex } from './slot-index.js';
import { joinPath, parentPath } from './paths.js';

export const ROOT_INO = 1;

/** By default, how many inodes nobody holds are kept, most recently used first. */
export const DEFAULT_IDLE_INODES = 100_000;

/** Slots the table starts with, and never shrinks below. */
const MIN_SLOTS = 1024;
/** Marks a slot field that points at no slot (no parent, child, sibling or neighbour in the idle list), and an empty bucket. */
const NONE = NO_SLOT;
const ROOT_SLOT = 0;
/** `flags`: on the idle list. */
const IDLE = 1;
/** `flags`: seen as a file (`printsLow` and `printsHigh` hold what it was). */
const SIGHTED = 2;
/** Where `resight` has a sighting's print made. */
const PRINT = new Int32Array(2);
/** Paths of folders kept by number, so a child's path is its folder's and one name. */
const FOLDER_PATHS_MAX = 4096;

/**
 * Inode numbers for paths, with the lifetime the kernel's FUSE contract gives them (as libfuse's
 * `passthrough_ll.c` keeps them): a number handed to the kernel by an entry lives until the kernel
 * forgets every lookup of it. Numbers nobody holds are kept in a bounded LRU, so a path-based
 * engine (which never forgets) and stat-only callers cannot grow the table without bound. Numbers
 * are never reused: a path dropped and seen again gets a new number, which the kernel, having
 * forgotten the old one, cannot confuse.
 *
 * The kernel may hold a number for every file of a walked tree, so the table keeps no JS object
 * and no string per record: a record is a slot in parallel typed arrays, its name bytes in one
 * buffer, its path found from the parent links, a child found by (folder, name) in one
 * open-addressing index over the slots, a folder's children linked through their slots, and a
 * file as last seen kept as a print of its identity. Numbers grow with the slots, so a number is
 * found by binary search; dead slots are squeezed out once they are most of the table, which also
 * gives their memory back after a walk is forgotten.
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
  /** The file as last seen: the two halves of `identityPrint` (when SIGHTED). */
  private printsLow: Int32Array = new Int32Array(MIN_SLOTS);
  private printsHigh: Int32Array = new Int32Array(MIN_SLOTS);
  private flags: Uint8Array = new Uint8Array(MIN_SLOTS);
  /** Its name in its folder (none for the root). */
  private readonly names = new PackedStrings(MIN_SLOTS);
  /**
   * Children that have a record, as a list through the slots (newest first): a folder lives while
   * it has any, since their paths go through it.
   */
  private firstChild: Int32Array = new Int32Array(MIN_SLOTS).fill(NONE);
  private nextSibling: Int32Array = new Int32Array(MIN_SLOTS);
  private prevSibling: Int32Array = new Int32Array(MIN_SLOTS);
  /** Every slot with a parent, by `childHash` of its folder's number and its name. */
  private readonly index = new SlotIndex(MIN_SLOTS);
  /**
   * Records with no lookups, holds or children, oldest first: the ones that may be dropped. A list
   * through the slots; IDLE in `flags` says who is on it.
   */
  private idlePrev: Int32Array = new Int32Array(MIN_SLOTS);
  private idleNext: Int32Array = new Int32Array(MIN_SLOTS);
  private idleHead = NONE;
  private idleTail = NONE;
  private idleCount = 0;
  /** How many times slots were moved: a slot remembered across calls is good only while this stays. */
  private squeezes = 0;
  /** Paths of folders by number, oldest first: a record's path is its folder's and its name. */
  private readonly folderPaths = new Map<number, string>();
  /** The folder last found by path (a listing names thousands of children of one folder), while `squeezes` stays. */
  private lastFolder = { path: '', slot: NONE, ino: NONE, squeezes: -1 };

  constructor(
    private readonly maxIdle: number = DEFAULT_IDLE_INODES,
    private readonly now: () => number = Date.now,
  ) {
    const root = this.allocate(NONE);
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

  /** The number of `name` inside the directory numbered `parentIno` if it has one now; never assigns. */
  knownChildIno(parentIno: number, name: string): number | undefined {
    const parent = this.findIno(parentIno);
    const slot = parent === NONE ? NONE : this.findChild(parent, name);
    return slot === NONE ? undefined : this.inos[slot];
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
    this.releaseCounting(ino, 0);
  }

  /**
   * `release` of a number held for an entry batch, counting the `lookups` the kernel was handed of it
   * first (as `addLookups`): a listing settles every entry so, and the number is found once.
   */
  releaseCounting(ino: number, lookups: number): void {
    const slot = this.findIno(ino);
    if (slot === NONE) return;
    if (slot !== ROOT_SLOT && lookups > 0) this.lookups[slot] = (this.lookups[slot] as number) + lookups;
    if (this.holds[slot] !== 0) this.holds[slot] = (this.holds[slot] as number) - 1;
    else if (lookups <= 0 || slot === ROOT_SLOT) return;
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

  /**
   * The numbered children of `dirPath` that listing pass `pass` did not name, of those numbered before
   * `numberedBefore` (a `nextNumber` taken when the pass began): one numbered since may have come and gone
   * meanwhile, which a pass may or may not see.
   */
  childrenNotListed(dirPath: string, pass: number, numberedBefore = Number.POSITIVE_INFINITY): string[] {
    const missing: string[] = [];
    const slot = this.findFolder(dirPath);
    if (slot === NONE) return missing;
    const mark = pass | 0;
    for (let child = this.firstChild[slot] as number; child !== NONE; child = this.nextSibling[child] as number) {
      if (this.listedIn[child] !== mark && (this.inos[child] as number) < numberedBefore) missing.push(joinPath(dirPath, this.names.get(child) as string));
    }
    return missing;
  }

  /** The number the next new record gets: every number handed out so far is below it. */
  get nextNumber(): number {
    return this.nextIno;
  }

  /** Whether `dirPath` has numbered children now. */
  hasNumberedChildren(dirPath: string): boolean {
    const slot = this.findFolder(dirPath);
    return slot !== NONE && this.firstChild[slot] !== NONE;
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
    // A file cannot go under itself (the kernel answers ENOTDIR before asking): its new folders would hang from it.
    if (to.startsWith(`${from}/`)) return;
    const found = this.findPath(from);
    if (found === NONE || found === ROOT_SLOT || this.firstChild[found] !== NONE) return;
    const replaced = this.findPath(to);
    if (replaced === found) return;
    if (replaced !== NONE) {
      if (this.firstChild[replaced] !== NONE) return;
      this.remove(replaced);
    }
    const ino = this.inos[found] as number;
    // A record that was a folder once is one no more: its path changes.
    this.folderPaths.delete(ino);
    this.lastFolder = { path: '', slot: NONE, ino: NONE, squeezes: -1 };
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
      // A new child's name is hashed once, for the probe that misses and the index entry that follows it.
      const hash = childHash(this.inos[dir] as number, name);
      let slot = this.findChildHashed(dir, name, hash);
      if (slot === NONE) {
        slot = this.createChild(dir, name, hold, hash);
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
    const slot = this.findFolder(dirPath);
    const child = slot === NONE ? NONE : this.findChild(slot, name);
    if (child !== NONE) this.listedIn[child] = pass | 0;
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
        if (((this.flags[slot] as number) & IDLE) === 0 || (this.lastUsedMs[slot] as number) >= cutoffMs) continue;
        this.remove(slot);
        dropped = true;
      }
    } while (dropped);
    this.squeezeIfSparse();
  }

  /** Records `sighting` on `slot`; true when it had been seen before as another object. */
  private resight(slot: number, sighting: ObjectSighting): boolean {
    identityPrint(sighting, PRINT);
    const low = PRINT[0] as number;
    const high = PRINT[1] as number;
    const flags = this.flags[slot] as number;
    const stale = (flags & SIGHTED) !== 0 && (this.printsLow[slot] !== low || this.printsHigh[slot] !== high);
    this.printsLow[slot] = low;
    this.printsHigh[slot] = high;
    this.flags[slot] = flags | SIGHTED;
    return stale;
  }

  private pathOf(slot: number): string {
    if (slot === ROOT_SLOT) return '/';
    return joinPath(this.folderPath(this.parents[slot] as number), this.names.get(slot) as string);
  }

  /** The path of a folder, kept by its number (a number is never reused; a renamed record's goes). */
  private folderPath(slot: number): string {
    if (slot === ROOT_SLOT) return '/';
    const ino = this.inos[slot] as number;
    let path = this.folderPaths.get(ino);
    if (path === undefined) {
      path = this.pathOf(slot);
      if (this.folderPaths.size >= FOLDER_PATHS_MAX) this.folderPaths.delete(this.folderPaths.keys().next().value as number);
      this.folderPaths.set(ino, path);
    }
    return path;
  }

  /** `findPath` for the folder of a listing: the last one found is remembered. */
  private findFolder(dirPath: string): number {
    const last = this.lastFolder;
    if (dirPath === last.path && last.squeezes === this.squeezes && this.inos[last.slot] === last.ino && (last.slot === ROOT_SLOT || this.parents[last.slot] !== NONE)) return last.slot;
    const slot = this.findPath(dirPath);
    if (slot !== NONE) this.lastFolder = { path: dirPath, slot, ino: this.inos[slot] as number, squeezes: this.squeezes };
    return slot;
  }

  /** The slot of a normalized path, or NONE; each name is looked up under its folder. */
  private findPath(path: string): number {
    let slot = ROOT_SLOT;
    let start = 1;
    while (start < path.length) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      slot = this.findChild(slot, path.slice(start, end));
      if (slot === NONE) return NONE;
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
      let child = made ? NONE : this.findChild(slot, name);
      if (child === NONE) {
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

  /** The slot of the child `name` of the live slot `parent`, or NONE. */
  private findChild(parent: number, name: string): number {
    if (this.firstChild[parent] === NONE) return NONE;
    return this.findChildHashed(parent, name, childHash(this.inos[parent] as number, name));
  }

  /** `findChild` with the child's `childHash` at hand. */
  private findChildHashed(parent: number, name: string, hash: number): number {
    if (this.firstChild[parent] === NONE) return NONE;
    for (let bucket = this.index.first(hash); ; bucket = this.index.next(bucket)) {
      const slot = this.index.slotAt(bucket);
      if (slot === NONE) return NONE;
      if (this.index.hashOf(slot) === hash && this.parents[slot] === parent && this.names.equals(slot, name)) return slot;
    }
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
    if (((this.flags[slot] as number) & IDLE) !== 0) {
      this.unlinkIdle(slot);
      this.linkIdle(slot);
    }
  }

  private holdSlot(slot: number): void {
    this.holds[slot] = (this.holds[slot] as number) + 1;
    if (((this.flags[slot] as number) & IDLE) !== 0) this.unlinkIdle(slot);
  }

  /** A new record under `parent`; `held` starts it with one hold, so it never passes through the idle LRU. */
  private createChild(parent: number, name: string, held: boolean, hash = childHash(this.inos[parent] as number, name)): number {
    if (this.used === this.inos.length) {
      const parentIno = this.inos[parent] as number;
      this.makeRoom();
      parent = this.findIno(parentIno);
    }
    const slot = this.allocate(parent);
    this.attach(slot, parent, name, hash);
    this.holds[slot] = held ? 1 : 0;
    if (!held) this.linkIdle(slot);
    return slot;
  }

  /** Takes the next slot (there is room) for a new number. */
  private allocate(parent: number): number {
    const slot = this.used;
    this.used += 1;
    this.live += 1;
    this.inos[slot] = this.nextIno;
    this.nextIno += 1;
    this.parents[slot] = parent;
    this.lookups[slot] = 0;
    this.holds[slot] = 0;
    this.listedIn[slot] = 0;
    this.lastUsedMs[slot] = this.now();
    this.flags[slot] = 0;
    this.firstChild[slot] = NONE;
    this.names.clear(slot);
    return slot;
  }

  private isIdle(slot: number): boolean {
    return slot !== ROOT_SLOT && (this.lookups[slot] as number) <= 0 && this.holds[slot] === 0 && this.firstChild[slot] === NONE;
  }

  /**
   * Files `slot` as idle or not. `letGo`: someone just let go of it (a forget, a release), which
   * counts as a use; a folder left idle by its last child is not. `evict` is false when an
   * eviction is under way already.
   */
  private settle(slot: number, evict = true, letGo = true): void {
    if (((this.flags[slot] as number) & IDLE) !== 0) this.unlinkIdle(slot);
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
    if (((this.flags[slot] as number) & IDLE) !== 0) this.unlinkIdle(slot);
    this.detach(slot);
    this.flags[slot] = 0;
    this.live -= 1;
  }

  /** Takes `slot` out of its folder (which may go idle): it has no parent and no name afterwards. */
  private detach(slot: number): void {
    const parent = this.parents[slot] as number;
    if (parent === NONE) return;
    this.index.delete(slot);
    const prev = this.prevSibling[slot] as number;
    const next = this.nextSibling[slot] as number;
    if (prev === NONE) this.firstChild[parent] = next;
    else this.nextSibling[prev] = next;
    if (next !== NONE) this.prevSibling[next] = prev;
    this.parents[slot] = NONE;
    this.names.clear(slot);
    this.settle(parent, false, false);
  }

  /** Files `slot` as `name` in the folder `parent`, which stops being idle. */
  private attach(slot: number, parent: number, name: string, hash = childHash(this.inos[parent] as number, name)): void {
    const first = this.firstChild[parent] as number;
    if (first === NONE && ((this.flags[parent] as number) & IDLE) !== 0) this.unlinkIdle(parent);
    this.prevSibling[slot] = NONE;
    this.nextSibling[slot] = first;
    if (first !== NONE) this.prevSibling[first] = slot;
    this.firstChild[parent] = slot;
    this.parents[slot] = parent;
    this.names.set(slot, name);
    this.index.add(slot, hash);
  }

  private linkIdle(slot: number): void {
    this.flags[slot] = (this.flags[slot] as number) | IDLE;
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
    this.flags[slot] = (this.flags[slot] as number) & ~IDLE;
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
      if (to !== NONE && to !== slot) this.copySlot(slot, to);
    }
    // Every link of a live slot points at a live one (or at none): each becomes its new place.
    const relink = (links: Int32Array, slot: number): void => {
      const at = links[slot] as number;
      if (at !== NONE) links[slot] = moved[at] as number;
    };
    for (let slot = 0; slot < count; slot += 1) {
      relink(this.parents, slot);
      relink(this.firstChild, slot);
      relink(this.nextSibling, slot);
      relink(this.prevSibling, slot);
      if (((this.flags[slot] as number) & IDLE) !== 0) {
        relink(this.idlePrev, slot);
        relink(this.idleNext, slot);
      }
    }
    if (this.idleHead !== NONE) this.idleHead = moved[this.idleHead] as number;
    if (this.idleTail !== NONE) this.idleTail = moved[this.idleTail] as number;
    this.names.squeezed(count);
    this.index.renumber(moved);
    this.used = count;
    this.squeezes += 1;
    if (capacity !== this.inos.length) this.resize(capacity);
  }

  private copySlot(from: number, to: number): void {
    this.inos[to] = this.inos[from] as number;
    this.parents[to] = this.parents[from] as number;
    this.lookups[to] = this.lookups[from] as number;
    this.holds[to] = this.holds[from] as number;
    this.listedIn[to] = this.listedIn[from] as number;
    this.lastUsedMs[to] = this.lastUsedMs[from] as number;
    this.printsLow[to] = this.printsLow[from] as number;
    this.printsHigh[to] = this.printsHigh[from] as number;
    this.flags[to] = this.flags[from] as number;
    this.index.moveHash(from, to);
    this.firstChild[to] = this.firstChild[from] as number;
    this.nextSibling[to] = this.nextSibling[from] as number;
    this.prevSibling[to] = this.prevSibling[from] as number;
    this.idlePrev[to] = this.idlePrev[from] as number;
    this.idleNext[to] = this.idleNext[from] as number;
    this.names.move(from, to);
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
    this.printsLow = fit(this.printsLow, new Int32Array(capacity));
    this.printsHigh = fit(this.printsHigh, new Int32Array(capacity));
    this.flags = fit(this.flags, new Uint8Array(capacity));
    this.firstChild = fit(this.firstChild, new Int32Array(capacity));
    this.nextSibling = fit(this.nextSibling, new Int32Array(capacity));
    this.prevSibling = fit(this.prevSibling, new Int32Array(capacity));
    this.idlePrev = fit(this.idlePrev, new Int32Array(capacity));
    this.idleNext = fit(this.idleNext, new Int32Array(capacity));
    this.names.resize(capacity, count);
    this.index.resizeSlots(capacity, count);
  }
}

/** The index hash of the child `name` of the folder numbered `parentIno` (both halves of the number go in). */
function childHash(parentIno: number, name: string): number {
  const seed = Math.imul(Math.imul(0x811c9dc5 ^ (parentIno | 0), 0x01000193) ^ Math.floor(parentIno / 0x1_0000_0000), 0x01000193);
  return hashText(name, seed);
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
