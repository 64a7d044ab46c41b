import { DIR_NODE, type NodeInfo } from './node-info.js';
import type { ListedChild } from './readdir.js';

/** By default, how many children the finished listings kept in memory may hold together. */
export const DEFAULT_LIST_CACHE_ENTRIES = 200_000;
/** How many folders' "the kernel holds this listing whole" marks are kept. */
const KERNEL_MARKS_MAX = 100_000;
/** `sizes` of a child that is a folder. */
const FOLDER_SIZE = -1;

/**
 * A kept listing, packed: a name and three fields per child instead of two objects each, since
 * the kept listings may hold hundreds of thousands of children. The children handed out are made
 * again when asked for, and shared while anyone still holds them.
 */
interface Listing {
  readonly names: readonly string[];
  readonly sizes: Float64Array;
  readonly mtimesMs: Float64Array;
  readonly versions: readonly (string | undefined)[];
  readonly expiresAtMs: number;
  /** The children last handed out (or kept), while someone holds them. */
  view: WeakRef<readonly ListedChild[]> | undefined;
  /** Indexes of `names` in name order, made at the first search if the names are out of it; undefined: in order. */
  order?: Int32Array | undefined;
  searchable?: boolean;
}

/** A kept listing read in place: child `index` is `names[index]`, a folder when `isFolderAt`, else a file of `sizes`, `mtimesMs`, `versions`. */
export type PackedListing = Pick<Listing, 'names' | 'sizes' | 'mtimesMs' | 'versions'>;

export function isFolderAt(listing: PackedListing, index: number): boolean {
  return listing.sizes[index] === FOLDER_SIZE;
}

/** The index of `name` in `listing` (by binary search, in `order` if the names needed one), or -1. */
function indexOfName(listing: Listing, name: string): number {
  const { names } = listing;
  if (listing.searchable !== true) {
    let sorted = true;
    for (let index = 1; sorted && index < names.length; index += 1) sorted = (names[index - 1] as string) < (names[index] as string);
    if (!sorted) {
      const order = Int32Array.from(names.keys());
      order.sort((a, b) => ((names[a] as string) < (names[b] as string) ? -1 : 1));
      listing.order = order;
    }
    listing.searchable = true;
  }
  const { order } = listing;
  let low = 0;
  let high = names.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const index = order === undefined ? middle : (order[middle] as number);
    const here = names[index] as string;
    if (here === name) return index;
    if (here < name) low = middle + 1;
    else high = middle - 1;
  }
  return -1;
}

/**
 * A listing packed as its children arrive, so that they need not live as objects until their folder
 * is whole (a walk finishes thousands of folders, each a page after its first child came).
 */
export class PackedChildren {
  readonly names: string[] = [];
  private readonly sizes: number[] = [];
  private readonly mtimesMs: number[] = [];
  private readonly versions: (string | undefined)[] = [];

  push({ name, info }: ListedChild): void {
    this.names.push(name);
    if (info.kind === 'dir') {
      this.sizes.push(FOLDER_SIZE);
      this.mtimesMs.push(0);
      this.versions.push(undefined);
    } else {
      this.sizes.push(info.size);
      this.mtimesMs.push(info.mtimeMs);
      this.versions.push(info.version);
    }
  }

  get length(): number {
    return this.names.length;
  }

  listing(expiresAtMs: number, view: readonly ListedChild[] | undefined): Listing {
    return {
      names: this.names,
      sizes: Float64Array.from(this.sizes),
      mtimesMs: Float64Array.from(this.mtimesMs),
      versions: this.versions,
      expiresAtMs,
      view: view === undefined ? undefined : new WeakRef(view),
    };
  }
}

function packListing(children: readonly ListedChild[], expiresAtMs: number): Listing {
  const packed = new PackedChildren();
  for (const child of children) packed.push(child);
  return packed.listing(expiresAtMs, children);
}

/** What a kept listing says of its child at `index`. */
function infoAt(listing: Listing, index: number): NodeInfo {
  const size = listing.sizes[index] as number;
  return size === FOLDER_SIZE ? DIR_NODE : { kind: 'file', size, mtimeMs: listing.mtimesMs[index] as number, version: listing.versions[index] };
}

function unpackListing(listing: Listing): readonly ListedChild[] {
  const held = listing.view?.deref();
  if (held !== undefined) return held;
  const children = new Array<ListedChild>(listing.names.length);
  for (let index = 0; index < listing.names.length; index += 1) children[index] = { name: listing.names[index] as string, info: infoAt(listing, index) };
  listing.view = new WeakRef(children);
  return children;
}

export interface ListingCacheOptions {
  readonly ttlMs: number;
  /** Bound of all kept listings together, in children; a folder larger than a quarter of it is never kept. */
  readonly maxEntries: number;
  readonly now: () => number;
}

/**
 * Finished listings of folders, kept for the metadata TTL so a second `ls` or `find` makes no
 * request (gcsfuse's list cache), and for each folder whether the kernel read its listing whole
 * within the TTL, so opendir may let the kernel keep it (`keep_cache` with `cache_readdir`).
 * Bounded by children in all (LRU by folder). Anything that changes a folder drops both.
 */
export class ListingCache {
  private readonly listings = new Map<string, Listing>();
  private readonly kernelHolds = new Map<string, number>();
  private entries = 0;

  constructor(private readonly options: ListingCacheOptions) {}

  get(dirPath: string): readonly ListedChild[] | undefined {
    const listing = this.use(dirPath);
    return listing === undefined ? undefined : unpackListing(listing);
  }

  /** The kept listing of `dirPath` as it is kept, to be read in place (no object per child); a use, as `get`. */
  getPacked(dirPath: string): PackedListing | undefined {
    return this.use(dirPath);
  }

  /** Whether a listing of `dirPath` is kept, without counting as a use. */
  has(dirPath: string): boolean {
    const listing = this.listings.get(dirPath);
    return listing !== undefined && this.options.now() < listing.expiresAtMs;
  }

  /**
   * What a kept listing of `dirPath` says of its child `name`: undefined when no listing is kept or it does
   * not name the child (the store decides then). Neither makes objects of the listing nor counts as a use.
   */
  childInfo(dirPath: string, name: string): NodeInfo | undefined {
    const listing = this.listings.get(dirPath);
    if (listing === undefined || this.options.now() >= listing.expiresAtMs) return undefined;
    const index = indexOfName(listing, name);
    if (index < 0) return undefined;
    return infoAt(listing, index);
  }

  /** The most children one folder may have to be kept. */
  get perFolderLimit(): number {
    return Math.floor(this.options.maxEntries / 4);
  }

  /** Keeps the listing of `dirPath`; false when it is not kept (too large, or no TTL). */
  set(dirPath: string, children: readonly ListedChild[] | PackedChildren): boolean {
    if (this.options.ttlMs <= 0 || children.length > this.perFolderLimit) return false;
    this.dropListing(dirPath);
    const expiresAtMs = this.options.now() + this.options.ttlMs;
    this.listings.set(dirPath, children instanceof PackedChildren ? children.listing(expiresAtMs, undefined) : packListing(children, expiresAtMs));
    this.entries += children.length;
    while (this.entries > this.options.maxEntries) {
      const oldest = this.listings.keys().next().value as string;
      this.dropListing(oldest);
    }
    return true;
  }

  /** The kernel read the whole listing of `dirPath` just now. */
  markKernelHolds(dirPath: string): void {
    if (this.options.ttlMs <= 0) return;
    this.kernelHolds.delete(dirPath);
    this.kernelHolds.set(dirPath, this.options.now() + this.options.ttlMs);
    if (this.kernelHolds.size > KERNEL_MARKS_MAX) this.kernelHolds.delete(this.kernelHolds.keys().next().value as string);
  }

  /** Whether the kernel's copy of the listing of `dirPath` is still good. */
  kernelMayKeep(dirPath: string): boolean {
    const until = this.kernelHolds.get(dirPath);
    if (until === undefined) return false;
    if (this.options.now() < until) return true;
    this.kernelHolds.delete(dirPath);
    return false;
  }

  /** `dirPath` changed (or may have). */
  invalidate(dirPath: string): void {
    this.dropListing(dirPath);
    this.kernelHolds.delete(dirPath);
  }

  /** Drops every expired listing and mark, so memory follows the TTL and not only the bound. */
  sweep(): void {
    const now = this.options.now();
    for (const [dirPath, listing] of this.listings) if (now >= listing.expiresAtMs) this.dropListing(dirPath);
    for (const [dirPath, until] of this.kernelHolds) if (now >= until) this.kernelHolds.delete(dirPath);
  }

  clear(): void {
    this.listings.clear();
    this.kernelHolds.clear();
    this.entries = 0;
  }

  get size(): number {
    return this.entries;
  }

  /** The listing of `dirPath` made the most recently used; undefined (and dropped) once expired. */
  private use(dirPath: string): Listing | undefined {
    const listing = this.listings.get(dirPath);
    if (listing === undefined) return undefined;
    this.listings.delete(dirPath);
    if (this.options.now() >= listing.expiresAtMs) {
      this.entries -= listing.names.length;
      return undefined;
    }
    this.listings.set(dirPath, listing);
    return listing;
  }

  private dropListing(dirPath: string): void {
    const listing = this.listings.get(dirPath);
    if (listing === undefined) return;
    this.listings.delete(dirPath);
    this.entries -= listing.names.length;
  }
}
