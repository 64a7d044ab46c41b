import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/fs/buffer-pool.js';
import { ByteChunks } from '../../src/fs/byte-chunks.js';
import { MemoryBudget } from '../../src/fs/memory-budget.js';

describe('BufferPool: a fixed number of block buffers, reused once nothing holds them', () => {
  it('hands out at most `capacity` buffers, and reuses one after its last release', () => {
    const pool = new BufferPool(1024, 2);
    const first = pool.take()!;
    expect(first.bytes.length).toBe(1024);
    first.hold();
    first.release();
    // Still held once (by its taker): a new take gets other memory.
    const second = pool.take()!;
    expect(second.bytes.buffer).not.toBe(first.bytes.buffer);
    expect(pool.take()).toBeUndefined();
    expect(pool.availableCount).toBe(0);
    expect(pool.heldBytes).toBe(2048);
    first.release();
    expect(pool.freeCount).toBe(1);
    expect(pool.take()!.bytes.buffer).toBe(first.bytes.buffer);
    expect(pool.freeCount).toBe(0);
  });

  it('hands out nothing once closed', () => {
    const pool = new BufferPool(16, 2);
    pool.take()!.release();
    pool.close();
    expect(pool.freeCount).toBe(0);
    expect(pool.take()).toBeUndefined();
  });

  it('refuses a release without a hold, and a hold after the last release', () => {
    const buffer = new BufferPool(16, 1).take()!;
    buffer.release();
    expect(() => buffer.release()).toThrow(/released more often/);
    expect(() => buffer.hold()).toThrow(/after its last release/);
  });

  it('bytes cut from a pooled buffer keep naming it; other bytes do not', () => {
    const memory = new BufferPool(64, 1).take()!;
    const chunks = ByteChunks.of([memory.bytes.subarray(0, 32), Buffer.alloc(8)]).livingIn(memory);
    expect(chunks.memory).toBe(memory);
    expect(chunks.subrange(4, 36).memory).toBe(memory);
    expect(ByteChunks.of([Buffer.alloc(8)]).livingIn(memory).memory).toBeUndefined();
  });
});

describe('MemoryBudget over the pool', () => {
  function budgetWithCache(buffers: number, cachedBlocks: number) {
    const pool = new BufferPool(10, buffers);
    const cached = Array.from({ length: cachedBlocks }, () => pool.take()!);
    const budget = new MemoryBudget(pool, {
      evictOldest: () => {
        const oldest = cached.shift();
        oldest?.release();
        return oldest !== undefined;
      },
    });
    return { budget, cached, pool };
  }

  it('evicts the oldest cached blocks to make room, oldest first, and only as many as it needs', () => {
    const { budget, cached } = budgetWithCache(10, 9);
    const kept = cached.slice(2);
    expect(budget.tryTake(25)).toHaveLength(3);
    expect(cached).toEqual(kept);
  });

  it('refuses a prefetch when fetches in flight hold every buffer, and makes a demand wait for one to come back', async () => {
    const { budget } = budgetWithCache(10, 0);
    const inflight = budget.tryTake(80)!;
    expect(budget.tryTake(30)).toBeUndefined();
    let taken: unknown;
    const demand = budget.take(30).then((buffers) => {
      taken = buffers;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(taken).toBeUndefined();
    for (const buffer of inflight) buffer.release();
    await demand;
    expect(taken).toHaveLength(3);
  });

  it('rejects a fetch larger than the whole budget, and a wait whose signal aborts', async () => {
    const { budget } = budgetWithCache(10, 0);
    await expect(budget.take(101)).rejects.toThrow(/cannot fit/);
    budget.tryTake(100);
    const abort = new AbortController();
    const waiting = budget.take(10, abort.signal);
    abort.abort();
    budget.wakeAll();
    await expect(waiting).rejects.toThrow();
  });
});
