import type { BufferPool, PooledBuffer } from './buffer-pool.js';

/**
 * The read path's memory bound: a fetch takes the pool's buffers for its bytes before it starts, and the cache
 * gives buffers back by evicting its least recently used blocks. Cached blocks and fetches in flight together
 * never hold more than the pool has. A demand read waits while fetches in flight (and readers copying) hold
 * every buffer: they end, and their blocks become evictable; a prefetch is simply not made.
 */
export interface BudgetedCache {
  /** Drops the least recently used block; false when nothing is left to drop. */
  evictOldest(): boolean;
}

export class BudgetExceededError extends Error {
  constructor(bytes: number, budgetBytes: number) {
    super(`a fetch of ${bytes} bytes cannot fit in the read budget of ${budgetBytes} bytes`);
    this.name = 'BudgetExceededError';
  }
}

export class MemoryBudget {
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly pool: BufferPool,
    private readonly cache: BudgetedCache,
  ) {
    pool.onFree = () => this.wakeAll();
  }

  get budgetBytes(): number {
    return this.pool.capacity * this.pool.bufferBytes;
  }

  /** Buffers for `bytes`, now, if the cache can make room; each held once by the caller. */
  tryTake(bytes: number): PooledBuffer[] | undefined {
    const count = this.buffersFor(bytes);
    if (count > this.pool.capacity) return undefined;
    while (this.pool.availableCount < count) {
      if (!this.cache.evictOldest()) return undefined;
    }
    return Array.from({ length: count }, () => this.pool.take() as PooledBuffer);
  }

  /** As `tryTake`, waiting for buffers to come back when fetches and readers hold them all. */
  async take(bytes: number, signal?: AbortSignal): Promise<PooledBuffer[]> {
    if (this.buffersFor(bytes) > this.pool.capacity) throw new BudgetExceededError(bytes, this.budgetBytes);
    for (;;) {
      signal?.throwIfAborted();
      const taken = this.tryTake(bytes);
      if (taken !== undefined) return taken;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Wakes every waiter, e.g. on close, so aborted ones can leave. */
  wakeAll(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private buffersFor(bytes: number): number {
    return Math.max(1, Math.ceil(bytes / this.pool.bufferBytes));
  }
}
