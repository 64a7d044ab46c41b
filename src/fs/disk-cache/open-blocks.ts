import { promises as fsp } from 'node:fs';
import { LRUCache } from 'lru-cache';
import { HEADER_PROBE_BYTES, decodeHeader, headerBytesNeeded, type BlockHeader, type BlockKey } from './block-file.js';

/** One block file held open, its header checked: what hits read, and what a `CachedRange` lends out. */
export interface OpenBlock {
  readonly path: string;
  readonly file: fsp.FileHandle;
  readonly header: BlockHeader;
  readonly mtimeMs: number;
  /** When this mount last marked the file used (its access time, which eviction goes by). */
  touchedMs: number;
  /** Lent to an engine, or read from now. */
  users: number;
  /** Out of the table: closed once its last user is done. */
  retired: boolean;
}

/** Open block files kept; each holds one descriptor. */
export const OPEN_BLOCKS_MAX = 256;

/**
 * Block files this mount holds open, by path, so that a hit costs a read and no open, and so that the native
 * engine can be lent a descriptor without I/O. A file removed meanwhile (evicted by another mount) stays
 * readable through its descriptor, and its bytes stay right: a block file is never written in place.
 */
export class OpenBlocks {
  private readonly table = new LRUCache<string, OpenBlock>({
    max: OPEN_BLOCKS_MAX,
    dispose: (entry) => {
      entry.retired = true;
      if (entry.users === 0) void entry.file.close().catch(() => {});
    },
  });
  private readonly opening = new Map<string, Promise<OpenBlock | undefined>>();

  /** The open file of `path`, if this mount holds it (no I/O). */
  peek(path: string): OpenBlock | undefined {
    return this.table.get(path);
  }

  /**
   * Opens and checks the block file at `path` (relative paths are the caller's): undefined when there is none.
   * A file that is not a whole block of `key` rejects with `BlockFileError`; other errors are the disk's.
   */
  open(path: string, key: BlockKey): Promise<OpenBlock | undefined> {
    const held = this.table.get(path);
    if (held !== undefined) return Promise.resolve(held);
    let pending = this.opening.get(path);
    if (pending === undefined) {
      pending = this.openFile(path, key).finally(() => this.opening.delete(path));
      this.opening.set(path, pending);
    }
    return pending;
  }

  private async openFile(path: string, key: BlockKey): Promise<OpenBlock | undefined> {
    let file: fsp.FileHandle;
    try {
      file = await fsp.open(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const stats = await file.stat();
      let probe = Buffer.allocUnsafe(Math.min(HEADER_PROBE_BYTES, stats.size));
      probe = probe.subarray(0, (await file.read(probe, 0, probe.length, 0)).bytesRead);
      const needed = headerBytesNeeded(probe);
      if (needed > probe.length && needed <= stats.size) {
        probe = Buffer.allocUnsafe(needed);
        probe = probe.subarray(0, (await file.read(probe, 0, needed, 0)).bytesRead);
      }
      const header = decodeHeader(probe, key, stats.size);
      const entry: OpenBlock = { path, file, header, mtimeMs: stats.mtimeMs, touchedMs: stats.atimeMs, users: 0, retired: false };
      this.table.set(path, entry);
      return entry;
    } catch (error) {
      await file.close().catch(() => {});
      throw error;
    }
  }

  /** Lends `entry` out until the matching `release`. */
  use(entry: OpenBlock): void {
    entry.users += 1;
  }

  release(entry: OpenBlock): void {
    entry.users -= 1;
    if (entry.users === 0 && entry.retired) void entry.file.close().catch(() => {});
  }

  /** Forgets `path` (its file was found bad or removed): later reads open it again. */
  forget(path: string): void {
    this.table.delete(path);
  }

  /** Forgets every file under `folder`. */
  forgetUnder(folder: string): void {
    for (const path of [...this.table.keys()]) if (path.startsWith(folder)) this.table.delete(path);
  }

  clear(): void {
    this.table.clear();
  }
}
