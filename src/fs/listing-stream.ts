import type { ListEntry, ListPage, ListPageRequest } from '../store/object-store.js';
import { PackedChildren } from './listing-cache.js';
import { ChildMerger, type ListedChild, type MergerState } from './readdir.js';
import type { WarnOnce } from './warn-once.js';

export interface ListingStreamOptions {
  readonly listPage: (request: ListPageRequest) => Promise<ListPage>;
  /** `''` or ending in `/`. */
  readonly dirPrefix: string;
  readonly warnings: WarnOnce;
  readonly pageSize: number;
  /** Every child as it arrives from the store, in position order. */
  readonly onChild?: (child: ListedChild) => void;
  /** A pass from the first position reached the end: every child (packed), or undefined past `collectLimit`. */
  readonly onComplete?: (children: PackedChildren | undefined) => void;
  /** The most children kept for `onComplete`. */
  readonly collectLimit: number;
}

/** Where a listing can be resumed: the position of the next child, the store key to list after, and the merger's state there. */
interface Checkpoint {
  readonly position: number;
  readonly startAfter: string;
  readonly merger: MergerState;
}

/**
 * One folder's children by position, fetched page by page as a reader moves on, one page ahead of
 * it, holding a bounded window: a reader never waits for the whole folder, and memory does not
 * grow with it. A position behind the window is found again from the nearest page boundary
 * (AIStore's `start_after`), so `seekdir` to any offset handed out works. Read forward, names
 * come from one pass of the store's ordered listing: one that appears or vanishes meanwhile is
 * seen or not, but no name is repeated and none that exists throughout is skipped.
 */
export class ListingStream {
  private window: ListedChild[] = [];
  private windowStart = 0;
  private done = false;
  private continuationToken = '';
  private startAfter = '';
  private lastKey = '';
  private readonly checkpoints: Checkpoint[] = [{ position: 0, startAfter: '', merger: { held: [], lastDirName: undefined } }];
  private readonly merger: ChildMerger;
  /** Packed as they come: a folder's children would otherwise all live as objects until its end, long past the reader. */
  private collected: PackedChildren | undefined = new PackedChildren();
  /** No restart so far: the pass is one ordered walk from the start. */
  private clean = true;
  private fetching: Promise<void> | undefined;
  private failure: unknown;
  /** Bumped by a restart: a page fetched for an earlier walk is dropped. */
  private epoch = 0;
  private closed = false;

  constructor(private readonly options: ListingStreamOptions) {
    this.merger = new ChildMerger(options.dirPrefix, options.warnings, (child) => this.add(child));
  }

  /** Starts fetching the first page, so the first read finds it under way. */
  start(): void {
    this.fetchAhead();
  }

  /** The children at `position`… (at most `max`); none past the end. Rejects with the store's error. */
  async read(position: number, max: number): Promise<ListedChild[]> {
    if (position < this.windowStart) await this.restartAt(position);
    while (position >= this.windowStart + this.window.length && !this.done) await this.nextPage();
    const from = position - this.windowStart;
    const children = this.window.slice(from, from + max);
    const next = position + children.length;
    this.trim(next);
    // Once the reader is into the last page fetched, the next one is asked for: the server lists it meanwhile.
    if (!this.done && this.windowStart + this.window.length - next < this.options.pageSize) this.fetchAhead();
    return children;
  }

  /** Children held in memory now (the window). */
  get bufferedCount(): number {
    return this.window.length;
  }

  close(): void {
    this.closed = true;
    this.window = [];
    this.collected = undefined;
  }

  private add(child: ListedChild): void {
    this.window.push(child);
    if (this.collected !== undefined) {
      if (this.collected.length < this.options.collectLimit) this.collected.push(child);
      else this.collected = undefined;
    }
    this.options.onChild?.(child);
  }

  /** Waits for the page in flight, or fetches the next one. */
  private async nextPage(): Promise<void> {
    this.fetchAhead();
    await this.fetching;
    if (this.failure !== undefined) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
  }

  private fetchAhead(): void {
    if (this.fetching !== undefined || this.done || this.closed || this.failure !== undefined) return;
    const epoch = this.epoch;
    this.fetching = this.fetchPage(epoch)
      .catch((error: unknown) => {
        if (epoch === this.epoch) this.failure = error;
      })
      .finally(() => {
        if (epoch === this.epoch) this.fetching = undefined;
      });
  }

  private async fetchPage(epoch: number): Promise<void> {
    const { dirPrefix, pageSize } = this.options;
    const request: ListPageRequest =
      this.continuationToken !== ''
        ? { prefix: dirPrefix, recursive: false, pageSize, continuationToken: this.continuationToken }
        : { prefix: dirPrefix, recursive: false, pageSize, ...(this.startAfter !== '' ? { startAfter: this.startAfter } : {}) };
    const page = await this.options.listPage(request);
    if (epoch !== this.epoch || this.closed) return;
    this.take(page.entries);
    this.continuationToken = page.continuationToken;
    if (page.continuationToken === '') {
      this.merger.end();
      this.done = true;
      if (this.clean) this.options.onComplete?.(this.collected);
      this.collected = undefined;
      return;
    }
    const position = this.windowStart + this.window.length;
    const last = this.checkpoints[this.checkpoints.length - 1] as Checkpoint;
    if (position > last.position) this.checkpoints.push({ position, startAfter: this.lastKey, merger: this.merger.state });
  }

  /** A page's entries, in a loop of its own: optimized while it runs, it is not thrown away by the cold code after it. */
  private take(entries: readonly ListEntry[]): void {
    // Nothing after the loop: code that had not run when the loop was optimized would throw that code away.
    for (const entry of entries) {
      this.merger.push(entry);
      this.lastKey = entry.name;
    }
  }

  /** Drops children well behind the reader, at a page boundary, so a small seek back stays cheap. */
  private trim(readerPosition: number): void {
    const { pageSize } = this.options;
    if (this.window.length <= 2 * pageSize) return;
    let cut: Checkpoint | undefined;
    for (const checkpoint of this.checkpoints) {
      if (checkpoint.position > readerPosition - pageSize) break;
      if (checkpoint.position > this.windowStart) cut = checkpoint;
    }
    if (cut === undefined) return;
    this.window = this.window.slice(cut.position - this.windowStart);
    this.windowStart = cut.position;
  }

  private async restartAt(position: number): Promise<void> {
    let from = this.checkpoints[0] as Checkpoint;
    for (const checkpoint of this.checkpoints) if (checkpoint.position <= position) from = checkpoint;
    this.epoch += 1;
    this.fetching = undefined;
    this.failure = undefined;
    this.clean = false;
    this.collected = undefined;
    this.window = [];
    this.windowStart = from.position;
    this.done = false;
    this.continuationToken = '';
    this.startAfter = from.startAfter;
    this.lastKey = from.startAfter;
    this.merger.restore(from.merger);
    // Checkpoints past this one are found again as the walk passes them.
    this.checkpoints.length = this.checkpoints.indexOf(from) + 1;
  }
}
