/** Counters of the read path, for metrics. Counts only grow; the `*Bytes` gauges are current values. */
export interface ReadStats {
  /** Reads served entirely from blocks already in the cache. */
  readonly cacheHits: number;
  /** Reads that waited for a GET (their own, one in flight, or an exact-range GET of a random read). */
  readonly cacheMisses: number;
  /** Blocks dropped to make room for newer ones. */
  readonly cacheEvictions: number;
  /** Bytes fetched ahead of any reader asking for them. */
  readonly prefetchedBytes: number;
  /** Prefetched bytes dropped (evicted, or left at close) without any reader having read them. */
  readonly prefetchWasteBytes: number;
  /** Bytes of every GET body of the read path. */
  readonly bytesFetched: number;
  /** Bytes reserved for GETs in flight now. */
  readonly inflightBytes: number;
  /** Bytes of the blocks cached now. */
  readonly cachedBytes: number;
}

export const EMPTY_READ_STATS: ReadStats = Object.freeze({
  cacheHits: 0,
  cacheMisses: 0,
  cacheEvictions: 0,
  prefetchedBytes: 0,
  prefetchWasteBytes: 0,
  bytesFetched: 0,
  inflightBytes: 0,
  cachedBytes: 0,
});

/** Sums the stats of several read paths (a mount of several buckets). */
export function addReadStats(a: ReadStats, b: ReadStats): ReadStats {
  return {
    cacheHits: a.cacheHits + b.cacheHits,
    cacheMisses: a.cacheMisses + b.cacheMisses,
    cacheEvictions: a.cacheEvictions + b.cacheEvictions,
    prefetchedBytes: a.prefetchedBytes + b.prefetchedBytes,
    prefetchWasteBytes: a.prefetchWasteBytes + b.prefetchWasteBytes,
    bytesFetched: a.bytesFetched + b.bytesFetched,
    inflightBytes: a.inflightBytes + b.inflightBytes,
    cachedBytes: a.cachedBytes + b.cachedBytes,
  };
}
