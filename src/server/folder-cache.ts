import { realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LRUCache } from 'lru-cache';
import { EntryStats } from './entry-stats.js';
import type { FileReplacer } from './file-replacer.js';
import { NO_ENTRIES, readFolderEntries, type FolderEntries } from './folder-entries.js';
import { isInside } from './safe-path.js';

/** A folder's sorted entries and their file facts, as one listing page uses them. */
export interface FolderSnapshot {
  readonly entries: FolderEntries;
  readonly stats: EntryStats;
}

interface CachedFolder extends FolderSnapshot {
  /** The folder's inode, mtime and ctime, taken before it was read: any entry added, removed or renamed changes it. */
  readonly signature: string;
  /**
   * False when the folder had changed just before it was read: a later change may then leave the (coarse)
   * timestamps as they were, so the signature proves nothing and only the listing that read it may reuse it.
   */
  readonly settled: boolean;
  readonly listingId: string;
}

export interface FolderCacheOptions {
  /** Bound on the entries of all cached folders together (LRU). */
  readonly maxEntries: number;
  /** A folder no listing used for this long is dropped. */
  readonly idleMs: number;
  /** How long a file's stat serves listings (see EntryStats). */
  readonly statMaxAgeMs: number;
  /**
   * A folder changed less than this before it was read is not "settled" (see CachedFolder): longer than the
   * coarsest timestamp granularity of a local filesystem and than the kernel's clock tick.
   */
  readonly settleMs: number;
}

export const DEFAULT_FOLDER_CACHE: FolderCacheOptions = { maxEntries: 2_000_000, idleMs: 60_000, statMaxAgeMs: 60_000, settleMs: 2_000 };

/** A read of a folder in progress; a change to the folder meanwhile keeps its result out of the cache. */
interface PendingRead {
  stale: boolean;
}

/**
 * The sorted entries of folders, by real path, kept between the pages of a listing and between listings, so a
 * page costs its own entries rather than a new read and sort of every folder on its path. Each use checks the
 * folder's signature, which catches what other programs did in it; PUT and DELETE call `objectChanged`, which is
 * exact even when the timestamps are too coarse to tell.
 */
export class FolderCache {
  private readonly folders: LRUCache<string, CachedFolder>;
  private readonly pending = new Map<string, Set<PendingRead>>();

  constructor(
    private readonly dataDir: string,
    readonly options: FolderCacheOptions = DEFAULT_FOLDER_CACHE,
    /** The server's renames onto existing names, which a folder read must not meet half done. */
    private readonly replacer?: FileReplacer,
  ) {
    this.folders = new LRUCache<string, CachedFolder>({
      maxSize: options.maxEntries,
      sizeCalculation: (folder) => folder.entries.names.length + 1,
      ttl: options.idleMs,
      updateAgeOnGet: true,
      ttlAutopurge: true,
    });
  }

  /** Entries of all cached folders together (each folder counts one more for itself). */
  get cachedEntries(): number {
    return this.folders.calculatedSize;
  }

  /** The entries of the folder at `realDir` for one page of the listing `listingId`. */
  async folder(realDir: string, listingId: string): Promise<FolderSnapshot> {
    const readAtMs = Date.now();
    let signature: string;
    let settled: boolean;
    try {
      // It was a real path when it was found: should a part of it have become a symlink since, that is not followed.
      if ((await realpath(realDir)) !== realDir) return { entries: NO_ENTRIES, stats: new EntryStats(0) };
      const folderStats = await stat(realDir, { bigint: true });
      signature = `${folderStats.ino}:${folderStats.mtimeNs}:${folderStats.ctimeNs}`;
      const { settleMs } = this.options;
      settled = readAtMs - Number(folderStats.mtimeMs) > settleMs && readAtMs - Number(folderStats.ctimeMs) > settleMs;
    } catch {
      return { entries: NO_ENTRIES, stats: new EntryStats(0) };
    }
    const cached = this.folders.get(realDir);
    if (cached !== undefined && cached.signature === signature && (cached.settled || cached.listingId === listingId)) return cached;
    const read: PendingRead = { stale: false };
    const reads = this.pending.get(realDir) ?? new Set<PendingRead>();
    this.pending.set(realDir, reads.add(read));
    let entries: FolderEntries;
    try {
      const readEntries = (): Promise<FolderEntries> => readFolderEntries(this.dataDir, realDir);
      entries = await (this.replacer === undefined ? readEntries() : this.replacer.readSettled(readEntries));
    } finally {
      reads.delete(read);
      if (reads.size === 0) this.pending.delete(realDir);
    }
    const folder: CachedFolder = { entries, stats: new EntryStats(entries.names.length), signature, settled, listingId };
    if (!read.stale) this.folders.set(realDir, folder);
    return folder;
  }

  /**
   * An object at `path` was written or deleted: its folder and every folder above it (created or removed with
   * it, or no longer empty) are read again, along the path as named and along its real path.
   */
  async objectChanged(path: string): Promise<void> {
    let existing = dirname(path);
    let real: string | undefined;
    while (real === undefined && isInside(this.dataDir, existing)) {
      try {
        real = await realpath(existing);
      } catch {
        existing = dirname(existing);
      }
    }
    for (const start of real === undefined ? [dirname(path)] : [dirname(path), real]) {
      for (let folder = start; isInside(this.dataDir, folder); folder = dirname(folder)) this.forget(folder);
    }
  }

  private forget(realDir: string): void {
    this.folders.delete(realDir);
    for (const read of this.pending.get(realDir) ?? []) read.stale = true;
  }
}
