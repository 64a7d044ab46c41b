const MiB = 1024 * 1024;

/**
 * Node's code (file pages of the binary count as resident), V8's heaps and the C heap of a mount under load,
 * beyond what `--cache-size` covers. bench/memory.mjs measures it against this.
 */
export const RUNTIME_MEMORY_BYTES = 128 * MiB;

/** The native engine's read slots: one 1 MiB reply buffer per worker thread, resident once a read used it. */
export const READ_SLOTS_MEMORY_BYTES = 32 * MiB;

/** What a mount holds besides its block cache and GETs in flight, which `--cache-size` bounds. */
export const MEMORY_OVERHEAD_BYTES = RUNTIME_MEMORY_BYTES + READ_SLOTS_MEMORY_BYTES;

/** The resident memory a mount stays within, for a given `--cache-size`. */
export function memoryBoundBytes(cacheSizeBytes: number): number {
  return cacheSizeBytes + MEMORY_OVERHEAD_BYTES;
}
