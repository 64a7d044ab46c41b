import type { ListedChild } from './readdir.js';

/** By default, how many children the finished listings kept in memory may hold together. */
export const DEFAULT_LIST_CACHE_ENTRIES = 200_000;
/** How many folders' "the kernel holds this listing whole" marks are kept. */
const KERNEL_MARKS_MAX = 100_000;

interface Listing {
  readonly children: readonly ListedChild[];
  readonly expiresAtMs: number;
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
    const listing = this.listings.get(dirPath);
    if (listing === undefined) return undefined;
    this.listings.delete(dirPath);
    if (this.options.now() >= listing.expiresAtMs) {
      this.entries -= listing.children.length;
      return undefined;
    }
    this.listings.set(dirPath, listing);
    return listing.children;
  }

  /** The most children one folder may have to be kept. */
  get perFolderLimit(): number {
    return Math.floor(this.options.maxEntries / 4);
  }

  /** Keeps the listing of `dirPath`; false when it is not kept (too large, or no TTL). */
  set(dirPath: string, children: readonly ListedChild[]): boolean {
    if (this.options.ttlMs <= 0 || children.length > this.perFolderLimit) return false;
    this.dropListing(dirPath);
    this.listings.set(dirPath, { children, expiresAtMs: this.options.now() + this.options.ttlMs });
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

  private dropListing(dirPath: string): void {
    const listing = this.listings.get(dirPath);
    if (listing === undefined) return;
    this.listings.delete(dirPath);
    this.entries -= listing.children.length;
  }
}
