import { LRUCache } from 'lru-cache';
import type { NodeInfo } from './node-info.js';

type CacheRecord = { readonly info: NodeInfo | undefined; readonly expiresAtMs: number };

export type CacheLookup = { readonly hit: true; readonly info: NodeInfo | undefined } | { readonly hit: false };

export interface MetadataCacheOptions {
  readonly metadataTtlMs: number;
  readonly negativeMetadataTtlMs: number;
  readonly maxEntries: number;
  readonly now: () => number;
}

/**
 * Path → what lookup found: a node (kept `metadataTtlMs`) or "not found" (kept
 * `negativeMetadataTtlMs`). Bounded by entry count (LRU). Expiry uses the injected clock, so
 * tests move time instead of sleeping. A TTL of 0 disables that kind of entry.
 *
 * `generation` grows with every invalidation: a lookup that started before an unlink must not
 * write back what it saw, so writers pass the generation they started under.
 */
export class MetadataCache {
  private readonly records: LRUCache<string, CacheRecord>;
  /**
   * Folders in an LRU of their own, of the same bound: a listing of a million files would
   * otherwise push out the few folders every opendir and getattr of a walk asks for again.
   */
  private readonly folders: LRUCache<string, CacheRecord>;
  private currentGeneration = 0;

  constructor(private readonly options: MetadataCacheOptions) {
    this.records = new LRUCache<string, CacheRecord>({ max: Math.max(1, options.maxEntries) });
    this.folders = new LRUCache<string, CacheRecord>({ max: Math.max(1, options.maxEntries) });
  }

  get generation(): number {
    return this.currentGeneration;
  }

  get(path: string): CacheLookup {
    const table = this.folders.has(path) ? this.folders : this.records;
    const record = table.get(path);
    if (record === undefined) return { hit: false };
    if (this.options.now() >= record.expiresAtMs) {
      table.delete(path);
      return { hit: false };
    }
    return { hit: true, info: record.info };
  }

  setFound(path: string, info: NodeInfo, generation = this.currentGeneration): void {
    if (generation !== this.currentGeneration || this.options.metadataTtlMs <= 0) return;
    const record = { info, expiresAtMs: this.options.now() + this.options.metadataTtlMs };
    if (info.kind === 'dir') {
      this.records.delete(path);
      this.folders.set(path, record);
    } else {
      this.folders.delete(path);
      this.records.set(path, record);
    }
  }

  setNotFound(path: string, generation = this.currentGeneration): void {
    if (generation !== this.currentGeneration || this.options.negativeMetadataTtlMs <= 0) return;
    this.folders.delete(path);
    this.records.set(path, { info: undefined, expiresAtMs: this.options.now() + this.options.negativeMetadataTtlMs });
  }

  invalidate(path: string): void {
    this.currentGeneration += 1;
    this.records.delete(path);
    this.folders.delete(path);
  }

  /** Drops every expired record, so memory follows the TTL and not only the bound. */
  sweep(): void {
    const now = this.options.now();
    for (const table of [this.records, this.folders]) {
      const expired = [...table.entries()].filter(([, record]) => now >= record.expiresAtMs).map(([path]) => path);
      for (const path of expired) table.delete(path);
    }
  }

  clear(): void {
    this.currentGeneration += 1;
    this.records.clear();
    this.folders.clear();
  }

  get size(): number {
    return this.records.size + this.folders.size;
  }
}
