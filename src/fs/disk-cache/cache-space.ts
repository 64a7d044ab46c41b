import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { BLOCK_LAYOUT_VERSION, TEMP_PREFIX } from './block-file.js';
import { limitBytes, type CacheLimit, type DiskSpace } from './cache-limit.js';
import { withDirLock } from './dir-lock.js';

/** Files in `DIR/blocks` that are not blocks start with a dot; these two are the shared state. */
export const LOCK_FILE_NAME = '.lock';
export const STATE_FILE_NAME = '.state';
/** A temporary block file this old was left by a writer that died. */
export const TEMP_STALE_MS = 10 * 60_000;
/** Eviction goes this far below the limit, so that it does not run again at the next block. */
export const LOW_WATER_FRACTION = 0.9;
/** The shared size is recounted from the files this often, to mend drift (files removed by hand, crashes). */
export const RESCAN_INTERVAL_MS = 60 * 60_000;
/** Largest share of the limit one mount writes between two turns at the shared size. */
const SYNC_SHARE_OF_LIMIT = 1 / 32;
const MAX_SYNC_CHUNK_BYTES = 256 * 1024 * 1024;

interface SharedState {
  readonly sizeBytes: number;
  readonly scannedAtMs: number;
  /** The `BLOCK_LAYOUT_VERSION` of the files counted: a state of another layout is recounted. */
  readonly layout: number;
}

interface FileEntry {
  readonly path: string;
  readonly bytes: number;
  readonly usedMs: number;
}

export interface EvictionReport {
  readonly files: number;
  readonly bytes: number;
}

export async function diskSpaceOf(path: string): Promise<DiskSpace> {
  const stats = await fsp.statfs(path);
  return { totalBytes: stats.blocks * stats.bsize, availableBytes: stats.bavail * stats.bsize };
}

/**
 * The size of a cache dir shared by several mounts, and its LRU eviction. Each mount counts what it wrote (and
 * dropped) since its last turn; a turn, under the dir's lock, adds that to the shared size in `.state`, and
 * when the total is over the limit removes the least recently used blocks (by access time, which readers
 * set) down to `LOW_WATER_FRACTION` of it. A mount takes a turn each time it wrote `syncChunkBytes`, so with a
 * few mounts at once the total never passes the limit by more than their unshared writes.
 */
export class CacheSpace {
  private unsyncedBytes = 0;
  private knownBytes = 0;
  private lastLimitBytes: number | undefined;
  private syncing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly blocksDir: string,
    private readonly limit: CacheLimit,
    private readonly minSyncChunkBytes: number,
    private readonly onEvicted: (report: EvictionReport) => void,
    private readonly onError: (error: unknown) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Bytes the cache holds, as this mount knows it (the shared total at its last turn plus its own since). */
  get sizeBytes(): number {
    return Math.max(0, this.knownBytes);
  }

  get limitBytes(): number | undefined {
    return this.lastLimitBytes;
  }

  /** This mount wrote (positive) or removed (negative) `bytes` of block files. */
  changed(bytes: number): void {
    this.unsyncedBytes += bytes;
    this.knownBytes += bytes;
    if (this.unsyncedBytes >= this.syncChunkBytes) void this.sync();
  }

  private get syncChunkBytes(): number {
    const share = this.lastLimitBytes === undefined ? this.minSyncChunkBytes : Math.floor(this.lastLimitBytes * SYNC_SHARE_OF_LIMIT);
    return Math.max(this.minSyncChunkBytes, Math.min(MAX_SYNC_CHUNK_BYTES, share));
  }

  /** A turn at the shared size (one at a time; a request during a turn runs one more after it). */
  sync(): Promise<void> {
    if (this.syncing !== undefined) {
      this.again = true;
      return this.syncing;
    }
    this.syncing = (async () => {
      do {
        this.again = false;
        try {
          await withDirLock(join(this.blocksDir, LOCK_FILE_NAME), () => this.turn());
        } catch (error) {
          this.onError(error);
        }
      } while (this.again);
    })().finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async turn(): Promise<void> {
    const delta = this.unsyncedBytes;
    this.unsyncedBytes = 0;
    const state = await this.readState();
    const rescan = state === undefined || this.now() - state.scannedAtMs >= RESCAN_INTERVAL_MS;
    let total = rescan ? (await this.scan()).totalBytes : Math.max(0, state.sizeBytes + delta);
    let scannedAtMs = rescan ? this.now() : state.scannedAtMs;
    const limit = limitBytes(this.limit, await diskSpaceOf(this.blocksDir), total);
    this.lastLimitBytes = limit;
    if (total > limit) {
      const { totalBytes, evicted } = await this.evict(Math.floor(limit * LOW_WATER_FRACTION));
      total = totalBytes;
      scannedAtMs = this.now();
      if (evicted.files > 0) this.onEvicted(evicted);
    }
    await this.writeState({ sizeBytes: total, scannedAtMs, layout: BLOCK_LAYOUT_VERSION });
    this.knownBytes = total + this.unsyncedBytes;
  }

  private async readState(): Promise<SharedState | undefined> {
    try {
      const parsed = JSON.parse(await fsp.readFile(join(this.blocksDir, STATE_FILE_NAME), 'utf8')) as Partial<SharedState>;
      if (typeof parsed.sizeBytes !== 'number' || typeof parsed.scannedAtMs !== 'number' || parsed.layout !== BLOCK_LAYOUT_VERSION) return undefined;
      return { sizeBytes: parsed.sizeBytes, scannedAtMs: parsed.scannedAtMs, layout: parsed.layout };
    } catch {
      return undefined;
    }
  }

  private async writeState(state: SharedState): Promise<void> {
    const path = join(this.blocksDir, STATE_FILE_NAME);
    const temp = `${path}.${process.pid}`;
    await fsp.writeFile(temp, JSON.stringify(state));
    await fsp.rename(temp, path);
  }

  /**
   * Every block file (and live temporary file) with its size and last use; stale temporary files are removed,
   * and so are the folders of the layout of before (`block-file.ts`), whose blocks are never served.
   */
  private async scan(): Promise<{ totalBytes: number; files: FileEntry[] }> {
    const files: FileEntry[] = [];
    let totalBytes = 0;
    for (const shard of await listNames(this.blocksDir)) {
      if (shard.startsWith('.')) continue;
      const folderPath = join(this.blocksDir, shard);
      const names = await listNames(folderPath);
      const entries = await Promise.all(names.map((name) => this.entryOf(folderPath, name)));
      for (const entry of entries) {
        if (entry === undefined) continue;
        totalBytes += entry.bytes;
        files.push(entry);
      }
    }
    return { totalBytes, files };
  }

  private async entryOf(folderPath: string, name: string): Promise<FileEntry | undefined> {
    const path = join(folderPath, name);
    const stats = await fsp.lstat(path).catch(() => undefined);
    if (stats?.isDirectory() === true) {
      await fsp.rm(path, { recursive: true, force: true }).catch(() => {});
      return undefined;
    }
    if (stats === undefined || !stats.isFile()) return undefined;
    if (name.startsWith(TEMP_PREFIX)) {
      if (this.now() - stats.mtimeMs < TEMP_STALE_MS) return { path, bytes: stats.size, usedMs: Number.POSITIVE_INFINITY };
      await fsp.rm(path, { force: true });
      return undefined;
    }
    return { path, bytes: stats.size, usedMs: Math.max(stats.atimeMs, stats.mtimeMs) };
  }

  private async evict(targetBytes: number): Promise<{ totalBytes: number; evicted: EvictionReport }> {
    const { totalBytes, files } = await this.scan();
    files.sort((a, b) => a.usedMs - b.usedMs);
    let total = totalBytes;
    let evictedFiles = 0;
    let evictedBytes = 0;
    for (const file of files) {
      if (total <= targetBytes || file.usedMs === Number.POSITIVE_INFINITY) break;
      try {
        await fsp.unlink(file.path);
        evictedFiles += 1;
        evictedBytes += file.bytes;
      } catch {
        // Another mount dropped it first.
      }
      total -= file.bytes;
    }
    return { totalBytes: total, evicted: { files: evictedFiles, bytes: evictedBytes } };
  }
}

async function listNames(path: string): Promise<string[]> {
  return fsp.readdir(path).catch(() => []);
}
