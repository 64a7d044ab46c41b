/**
 * The read path's memory bound: bytes held in the block cache plus bytes of GETs in flight never
 * exceed `budgetBytes`. A fetch reserves its bytes before it starts; the cache gives room back by
 * evicting its least recently used blocks. A demand read waits while fetches in flight alone fill
 * the budget (they end, and their blocks become evictable); a prefetch is simply not made.
 */
export interface BudgetedCache {
  /** Bytes of completed blocks held now. */
  cachedBytes(): number;
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
  private inflight = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(
    readonly budgetBytes: number,
    private readonly cache: BudgetedCache,
  ) {}

  get inflightBytes(): number {
    return this.inflight;
  }

  /** Reserves `bytes` now if the cache can make room, without waiting. */
  tryReserve(bytes: number): boolean {
    if (bytes > this.budgetBytes) return false;
    if (this.inflight + bytes > this.budgetBytes) return false;
    while (this.cache.cachedBytes() + this.inflight + bytes > this.budgetBytes) {
      if (!this.cache.evictOldest()) return false;
    }
    this.inflight += bytes;
    return true;
  }

  /** Reserves `bytes`, waiting for fetches in flight to end when they alone fill the budget. */
  async reserve(bytes: number, signal?: AbortSignal): Promise<void> {
    if (bytes > this.budgetBytes) throw new BudgetExceededError(bytes, this.budgetBytes);
    while (!this.tryReserve(bytes)) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /**
   * A fetch ended: its bytes are no longer in flight (the caller has put them in the cache, or
   * dropped them). Waiters try again.
   */
  release(bytes: number): void {
    this.inflight = Math.max(0, this.inflight - bytes);
    this.wakeAll();
  }

  /** Wakes every waiter, e.g. on close, so aborted ones can leave. */
  wakeAll(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
