import { sameObject, type ObjectSighting } from './object-identity.js';
import { joinPath, parentPath } from './paths.js';

export const ROOT_INO = 1;

/** By default, how many inodes nobody holds are kept, most recently used first. */
export const DEFAULT_IDLE_INODES = 100_000;

interface InodeRecord {
  readonly ino: number;
  readonly path: string;
  /** Lookups the kernel was handed and has not forgotten (LOOKUP, CREATE, READDIRPLUS entries). */
  lookups: number;
  /** Holds of the engine's own (an entry batch the kernel may still be handed). */
  holds: number;
  /** The folder it is in (undefined for the root). */
  readonly parent: InodeRecord | undefined;
  /** Its name in that folder. */
  readonly name: string;
  /** Children that have a record, by name: a parent lives while they do, since their paths go through it. */
  kids: Map<string, InodeRecord> | undefined;
  /** The file as last seen; undefined for folders or before a sighting. */
  sighting: ObjectSighting | undefined;
  /** The listing pass that last named it (see `markChildListed`). */
  listedIn: number;
  /** When it was last asked for or let go of (the table's clock). */
  lastUsedMs: number;
}

/**
 * Inode numbers for paths, with the lifetime the kernel's FUSE contract gives them (as libfuse's
 * `passthrough_ll.c` keeps them): a number handed to the kernel by an entry lives until the kernel
 * forgets every lookup of it. Numbers nobody holds are kept in a bounded LRU, so a path-based
 * engine (which never forgets) and stat-only callers cannot grow the table without bound. Numbers
 * are never reused: a path dropped and seen again gets a new number, which the kernel, having
 * forgotten the old one, cannot confuse.
 */
export class InodeTable {
  private readonly byPath = new Map<string, InodeRecord>();
  private readonly byIno = new Map<number, InodeRecord>();
  /** Records with no lookups, holds or children, oldest first: the ones that may be dropped. */
  private readonly idle = new Map<number, InodeRecord>();
  private nextIno = ROOT_INO + 1;

  constructor(
    private readonly maxIdle: number = DEFAULT_IDLE_INODES,
    private readonly now: () => number = Date.now,
  ) {
    const root: InodeRecord = { ino: ROOT_INO, path: '/', parent: undefined, name: '', lookups: 1, holds: 0, kids: undefined, sighting: undefined, listedIn: 0, lastUsedMs: 0 };
    this.byPath.set('/', root);
    this.byIno.set(ROOT_INO, root);
  }

  /** The number of a normalized path, assigned on first sight. */
  inoForPath(path: string): number {
    const record = this.recordFor(path);
    this.evictIdle(record);
    return record.ino;
  }

  /** The number of a path if it has one now; never assigns. */
  knownIno(path: string): number | undefined {
    return this.byPath.get(path)?.ino;
  }

  /** The path of a number that is alive, or undefined. */
  pathForIno(ino: number): string | undefined {
    return this.byIno.get(ino)?.path;
  }

  /** The path of `name` inside the directory numbered `parentIno`, or undefined if unknown. */
  childPath(parentIno: number, name: string): string | undefined {
    const parent = this.byIno.get(parentIno);
    return parent === undefined ? undefined : joinPath(parent.path, name);
  }

  /** The kernel was handed `ino` once more (an entry reply). */
  addLookup(ino: number): void {
    this.addLookups(ino, 1);
  }

  addLookups(ino: number, count: number): void {
    const record = this.byIno.get(ino);
    if (record === undefined || ino === ROOT_INO) return;
    record.lookups += count;
    this.settle(record);
  }

  /**
   * The kernel forgot `count` lookups of `ino` (FORGET, BATCH_FORGET). The count may go below
   * zero for a moment: the kernel can forget an entry of a batch whose lookups are counted only
   * when the batch is settled.
   */
  forget(ino: number, count: number): void {
    const record = this.byIno.get(ino);
    if (record === undefined || ino === ROOT_INO) return;
    record.lookups -= count;
    // A number the kernel forgot is of no use to anyone: it goes now, not after the idle LRU.
    if (this.isIdle(record)) {
      this.remove(record);
      this.evictIdle();
    } else {
      this.settle(record);
    }
  }

  /** Keeps `ino` alive until `release`, whoever else lets go of it. */
  hold(ino: number): void {
    const record = this.byIno.get(ino);
    if (record === undefined) return;
    record.holds += 1;
    this.idle.delete(ino);
  }

  release(ino: number): void {
    const record = this.byIno.get(ino);
    if (record === undefined || record.holds === 0) return;
    record.holds -= 1;
    this.settle(record);
  }

  /**
   * Records what a file looks like now; returns true when it was seen before as another object,
   * i.e. the kernel's copy of it is stale. Only paths that have a number are tracked: a path
   * without one is held by nobody, so nothing can be stale.
   */
  sawSighting(path: string, sighting: ObjectSighting): boolean {
    const record = this.byPath.get(path);
    return record !== undefined && this.resight(record, sighting);
  }

  /** The numbered children of `dirPath` that listing pass `pass` did not name. */
  childrenNotListed(dirPath: string, pass: number): string[] {
    const missing: string[] = [];
    for (const child of this.byPath.get(dirPath)?.kids?.values() ?? []) if (child.listedIn !== pass) missing.push(child.path);
    return missing;
  }

  /** Drops the number of `path` now if nobody holds it (the name is gone from the store). */
  dropIfIdle(path: string): void {
    const record = this.byPath.get(path);
    if (record !== undefined && this.isIdle(record)) this.remove(record);
  }

  /**
   * A file was renamed: its number now names `to`, as the kernel, which keeps the inode across a rename,
   * believes. A number that named `to` before is dropped (the kernel dropped that name too). Folders
   * (records with children) are not moved.
   */
  rename(from: string, to: string): void {
    const record = this.byPath.get(from);
    if (record === undefined || record === this.byPath.get('/') || (record.kids?.size ?? 0) > 0) return;
    const replaced = this.byPath.get(to);
    if (replaced !== undefined && replaced !== record && (replaced.kids?.size ?? 0) === 0) this.remove(replaced);
    const { lookups, holds, sighting, listedIn } = record;
    this.remove(record);
    const parent = this.recordFor(parentPath(to));
    const moved = this.createChild(parent, to.slice(to.lastIndexOf('/') + 1), to, false);
    this.byIno.delete(moved.ino);
    this.idle.delete(moved.ino);
    Object.assign(moved, { ino: record.ino, lookups, holds, sighting, listedIn });
    this.byIno.set(record.ino, moved);
    this.settle(moved, true, false);
  }

  get size(): number {
    return this.byPath.size;
  }

  /** How many numbers the kernel or the engine holds (not dropped by the LRU). */
  get heldCount(): number {
    return this.byPath.size - this.idle.size;
  }

  /**
   * Numbers children of `dirPath` by name, marking each as named by listing pass `pass`, with the
   * folder found once: a listing numbers thousands of names, and a Map keyed by a fresh path string
   * would hash every path again. A file's `sighting` is recorded as by `sawSighting`, and `stale`
   * says the number's copy in the kernel went stale. `hold`: each number is held (as by `hold`) from its making,
   * for entries the engine hands out in a batch. Use it at once: the folder is not held for later.
   */
  childNumberer(dirPath: string, hold: boolean): (name: string, pass: number, sighting: ObjectSighting | undefined) => { ino: number; stale: boolean; path: string } {
    const dir = this.recordFor(dirPath);
    this.evictIdle(dir);
    return (name, pass, sighting) => {
      let record = dir.kids?.get(name);
      if (record === undefined) record = this.createChild(dir, name, dir.path === '/' ? `/${name}` : `${dir.path}/${name}`, hold);
      else {
        this.touch(record);
        if (hold) this.hold(record.ino);
      }
      record.listedIn = pass;
      const stale = sighting !== undefined && this.resight(record, sighting);
      this.evictIdle(record);
      return { ino: record.ino, stale, path: record.path };
    };
  }

  /** Marks the numbered child `name` of `dirPath`, if there is one, as named by listing pass `pass`. */
  markChildListed(dirPath: string, name: string, pass: number): void {
    const child = this.byPath.get(dirPath)?.kids?.get(name);
    if (child !== undefined) child.listedIn = pass;
  }

  /** Records `sighting` on `record`; true when it had been seen before as another object. */
  private resight(record: InodeRecord, sighting: ObjectSighting): boolean {
    const previous = record.sighting;
    record.sighting = sighting;
    return previous !== undefined && !sameObject(previous, sighting);
  }

  private recordFor(path: string): InodeRecord {
    const known = this.byPath.get(path);
    if (known !== undefined) {
      this.touch(known);
      return known;
    }
    const parent = this.recordFor(parentPath(path));
    return this.createChild(parent, path.slice(path.lastIndexOf('/') + 1), path, false);
  }

  private touch(record: InodeRecord): void {
    record.lastUsedMs = this.now();
    if (this.idle.delete(record.ino)) this.idle.set(record.ino, record);
  }

  /** A new record under `parent`; `held` starts it with one hold, so it never passes through the idle LRU. */
  private createChild(parent: InodeRecord, name: string, path: string, held: boolean): InodeRecord {
    const record: InodeRecord = { ino: this.nextIno, path, parent, name, lookups: 0, holds: held ? 1 : 0, kids: undefined, sighting: undefined, listedIn: 0, lastUsedMs: this.now() };
    this.nextIno += 1;
    this.byPath.set(path, record);
    this.byIno.set(record.ino, record);
    if (parent.kids === undefined) {
      parent.kids = new Map();
      this.idle.delete(parent.ino);
    }
    parent.kids.set(name, record);
    if (!held) this.idle.set(record.ino, record);
    return record;
  }

  private isIdle(record: InodeRecord): boolean {
    return record.ino !== ROOT_INO && record.lookups <= 0 && record.holds === 0 && (record.kids === undefined || record.kids.size === 0);
  }

  /**
   * Files `record` as idle or not. `letGo`: someone just let go of it (a forget, a release), which
   * counts as a use; a folder left idle by its last child is not. `evict` is false when an
   * eviction is under way already.
   */
  private settle(record: InodeRecord, evict = true, letGo = true): void {
    this.idle.delete(record.ino);
    if (letGo) record.lastUsedMs = this.now();
    if (!this.isIdle(record)) return;
    this.idle.set(record.ino, record);
    if (evict) this.evictIdle();
  }

  /** Drops the idle numbers last used before `cutoffMs`, and the folders they leave idle. */
  sweepIdleBefore(cutoffMs: number): void {
    let dropped: boolean;
    do {
      dropped = false;
      for (const record of [...this.idle.values()]) {
        if (record.lastUsedMs >= cutoffMs || !this.idle.has(record.ino)) continue;
        this.remove(record);
        dropped = true;
      }
    } while (dropped);
  }

  /** Drops the least recently used idle numbers past the bound; `keep` (just handed out) is never one. */
  private evictIdle(keep?: InodeRecord): void {
    while (this.idle.size > this.maxIdle) {
      const oldest = this.idle.values().next().value as InodeRecord;
      if (oldest === keep) {
        if (this.idle.size === 1) return;
        this.idle.delete(keep.ino);
        this.idle.set(keep.ino, keep);
        continue;
      }
      this.remove(oldest);
    }
  }

  private remove(record: InodeRecord): void {
    this.idle.delete(record.ino);
    this.byPath.delete(record.path);
    this.byIno.delete(record.ino);
    const parent = record.parent;
    if (parent === undefined) return;
    parent.kids?.delete(record.name);
    if (parent.kids?.size === 0) parent.kids = undefined;
    this.settle(parent, false, false);
  }
}
