import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

/** The JS heap in use after full collections (without --expose-gc on the command line, as the mount does it). */
export function collectedHeapBytes(): number {
  if (collect === undefined) {
    setFlagsFromString('--expose-gc');
    collect = runInNewContext('gc') as () => void;
  }
  for (let round = 0; round < 3; round += 1) collect();
  return process.memoryUsage().heapUsed;
}

/** JS heap bytes per entry that what `build` returns keeps alive (its garbage collected). */
export function heapBytesPerEntry<T>(entries: number, build: () => T): { bytesPerEntry: number; kept: T } {
  const before = collectedHeapBytes();
  const kept = build();
  const after = collectedHeapBytes();
  return { bytesPerEntry: (after - before) / entries, kept };
}
