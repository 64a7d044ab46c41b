import type { Logger } from 'pino';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Entries gone from the metadata tables since their high-water mark that make a collection worth it. */
const TRIM_AFTER_ENTRIES = 50_000;
const CHECK_INTERVAL_MS = 5_000;

export interface TableSizes {
  readonly inodes?: number;
  readonly metadataEntries?: number;
  readonly listedEntries?: number;
}

type Collect = (options?: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
let fullCollection: Collect | undefined;

/** A full garbage collection, without --expose-gc on the command line (that flag cannot go in NODE_OPTIONS). */
function collectGarbage(): void {
  if (fullCollection === undefined) {
    setFlagsFromString('--expose-gc');
    fullCollection = runInNewContext('gc') as Collect;
  }
  // The last-resort flavour also shrinks the young generation and hands free pages back to the system.
  fullCollection({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * After a walk of millions of objects is forgotten, the tables let go of their entries but an idle
 * mount allocates nothing, so V8 would keep the dead objects (and the memory) indefinitely. Once
 * the tables shrank by many entries, one full collection gives the memory back.
 */
export function trimHeapWhenTablesShrink(sizes: () => TableSizes | undefined, logger: Logger): () => void {
  let highWater = 0;
  const timer = setInterval(() => {
    const now = sizes();
    if (now === undefined) return;
    const total = (now.inodes ?? 0) + (now.metadataEntries ?? 0) + (now.listedEntries ?? 0);
    if (total > highWater) {
      highWater = total;
      return;
    }
    if (highWater - total < TRIM_AFTER_ENTRIES) return;
    const before = process.memoryUsage().rss;
    collectGarbage();
    logger.debug({ entriesDropped: highWater - total, rssBefore: before, rssAfter: process.memoryUsage().rss }, 'metadata tables shrank: collected garbage');
    highWater = total;
  }, CHECK_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
