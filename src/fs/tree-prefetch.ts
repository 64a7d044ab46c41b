import type { ListPage, ListPageRequest } from '../store/object-store.js';
import { PackedChildren } from './listing-cache.js';
import { ChildMerger } from './readdir.js';
import type { WarnOnce } from './warn-once.js';

export interface TreeWalkOptions {
  readonly listPage: (request: ListPageRequest) => Promise<ListPage>;
  /** The listing prefix of the folder whose sub-tree is walked (`''` or ending in `/`). */
  readonly rootPrefix: string;
  /** Keys from just after this one: the sub-tree of the folder that set the walk off, and what follows. */
  readonly startAfter: string;
  readonly warnings: WarnOnce;
  readonly pageSize: number;
  /** The walk stops after this many entries. */
  readonly maxEntries: number;
  /** At most this many children of finished folders may wait, unread, in the listing cache. */
  readonly maxUnread: number;
  /** A folder (by listing prefix) the walk saw whole, packed as it came; true when its listing was kept for a reader. */
  readonly onFolder: (dirPrefix: string, children: PackedChildren) => boolean;
}

/** A folder under construction: its prefix and the merger that turns its entries into children. */
interface OpenFolder {
  readonly prefix: string;
  readonly merger: ChildMerger;
  readonly children: PackedChildren;
}

/**
 * One recursive paged listing of a sub-tree, instead of one listing per folder (gcsfuse's
 * metadata prefetch): as it passes each folder it hands over that folder's whole listing. The
 * store lists in key order, so a folder's entries are contiguous and it is whole as soon as a key
 * outside it arrives. Bounded by entries, and it waits while the folders it finished lie unread.
 */
export class TreeWalk {
  private readonly stack: OpenFolder[] = [];
  private readonly waiters = new Map<string, ((passed: boolean) => void)[]>();
  /** Folders finished and not yet read, by prefix, with their size. */
  private readonly unread = new Map<string, number>();
  private unreadCount = 0;
  private wakeUp: (() => void) | undefined;
  private lastKey: string;
  private entries = 0;
  private ended = false;
  private stopped = false;

  constructor(private readonly options: TreeWalkOptions) {
    this.lastKey = options.startAfter;
  }

  /**
   * Lists until the sub-tree ends, the bound is reached, or `stop`; never rejects. The next page is asked
   * for before this one is taken apart, so the server lists it while the mount files this one's entries.
   */
  async run(): Promise<void> {
    const { maxEntries } = this.options;
    let continuationToken = '';
    let next: Promise<ListPage> | undefined = this.requestPage('');
    try {
      while (next !== undefined) {
        const page: ListPage = await next;
        next = undefined;
        continuationToken = page.continuationToken;
        const more = continuationToken !== '' && this.entries + page.entries.length < maxEntries && !this.stopped;
        if (more && this.unreadCount <= this.options.maxUnread) next = this.requestPage(continuationToken);
        for (const entry of page.entries) this.add(entry.name, entry);
        this.entries += page.entries.length;
        this.releaseWaitersBehind();
        if (!more || this.stopped) break;
        if (next === undefined) {
          await this.whileTooMuchUnread();
          if (this.stopped) break;
          next = this.requestPage(continuationToken);
        }
      }
      if (continuationToken === '') while (this.stack.length > 0) this.finish(this.stack.pop() as OpenFolder);
    } catch {
      // The walk only saves requests: a failure leaves each folder to its own listing.
    } finally {
      this.ended = true;
      for (const resolvers of this.waiters.values()) for (const resolve of resolvers) resolve(false);
      this.waiters.clear();
    }
  }

  /** The page after `continuationToken` (`''`: the first); a page asked for ahead and never awaited fails quietly. */
  private requestPage(continuationToken: string): Promise<ListPage> {
    const { rootPrefix, pageSize, startAfter } = this.options;
    const request: ListPageRequest =
      continuationToken !== '' ? { prefix: rootPrefix, recursive: true, pageSize, continuationToken } : { prefix: rootPrefix, recursive: true, pageSize, startAfter };
    const page = this.options.listPage(request);
    page.catch(() => {});
    return page;
  }

  stop(): void {
    this.stopped = true;
    this.wakeUp?.();
  }

  get active(): boolean {
    return !this.ended;
  }

  /** Whether the walk will still pass the folder with this listing prefix. */
  covers(dirPrefix: string): boolean {
    return !this.ended && dirPrefix.startsWith(this.options.rootPrefix) && dirPrefix > this.lastKey && this.wakeUp === undefined;
  }

  /** Once the walk passed a folder it `covers`: true when it saw it whole, false when it will not. */
  waitFor(dirPrefix: string): Promise<boolean> {
    if (!this.covers(dirPrefix)) return Promise.resolve(false);
    return new Promise((resolve) => {
      const list = this.waiters.get(dirPrefix) ?? [];
      list.push(resolve);
      this.waiters.set(dirPrefix, list);
    });
  }

  /** A listing the walk handed over was read: room for the walk to go on. */
  read(dirPrefix: string): void {
    const count = this.unread.get(dirPrefix);
    if (count === undefined) return;
    this.unread.delete(dirPrefix);
    this.unreadCount -= count;
    if (this.unreadCount <= this.options.maxUnread) this.wakeUp?.();
  }

  private async whileTooMuchUnread(): Promise<void> {
    while (this.unreadCount > this.options.maxUnread && !this.stopped) {
      await new Promise<void>((resolve) => (this.wakeUp = resolve));
      this.wakeUp = undefined;
    }
  }

  private add(key: string, entry: Parameters<ChildMerger['push']>[0]): void {
    this.lastKey = key;
    // Most keys are files of the folder open now: no folder opens or closes, and no prefix is cut.
    const innermost = this.stack[this.stack.length - 1];
    if (innermost !== undefined && key.startsWith(innermost.prefix) && key.indexOf('/', innermost.prefix.length) < 0) {
      innermost.merger.push(entry);
      return;
    }
    const folderPrefix = key.slice(0, key.lastIndexOf('/') + 1);
    while (this.stack.length > 0 && !folderPrefix.startsWith((this.stack[this.stack.length - 1] as OpenFolder).prefix)) this.finish(this.stack.pop() as OpenFolder);
    // Open each folder between the innermost open one and this key's own, naming it in its parent.
    let base = this.stack.length > 0 ? (this.stack[this.stack.length - 1] as OpenFolder).prefix : this.options.rootPrefix;
    if (this.stack.length === 0 && !folderPrefix.startsWith(base)) return;
    while (base !== folderPrefix) {
      const next = folderPrefix.slice(0, folderPrefix.indexOf('/', base.length) + 1);
      if (this.stack.length > 0) this.parentMerger()?.push({ name: next, isDir: true, size: 0, version: undefined, mtimeMs: undefined, checksumValue: undefined });
      this.open(next);
      base = next;
    }
    if (this.stack.length === 0) return; // an entry of the root itself: the root is not walked whole
    this.parentMerger()?.push(entry);
  }

  private parentMerger(): ChildMerger | undefined {
    return this.stack[this.stack.length - 1]?.merger;
  }

  private open(prefix: string): void {
    const children = new PackedChildren();
    this.stack.push({ prefix, children, merger: new ChildMerger(prefix, this.options.warnings, (child) => children.push(child)) });
  }

  private finish(folder: OpenFolder): void {
    folder.merger.end();
    if (this.options.onFolder(folder.prefix, folder.children)) {
      this.unread.set(folder.prefix, folder.children.length);
      this.unreadCount += folder.children.length;
    }
    const resolvers = this.waiters.get(folder.prefix);
    if (resolvers === undefined) return;
    this.waiters.delete(folder.prefix);
    for (const resolve of resolvers) resolve(true);
  }

  /** Waiters for folders the walk went past without seeing (gone, or never there) list for themselves. */
  private releaseWaitersBehind(): void {
    for (const [prefix, resolvers] of this.waiters) {
      if (prefix > this.lastKey || this.lastKey.startsWith(prefix)) continue;
      this.waiters.delete(prefix);
      for (const resolve of resolvers) resolve(false);
    }
  }
}
