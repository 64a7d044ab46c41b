import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/fs/buffer-pool.js';
import { ByteChunks } from '../../src/fs/byte-chunks.js';

describe('BufferPool: part buffers reused once nothing holds them', () => {
  it('hands out part-sized buffers only, and reuses one after its last release', () => {
    const pool = new BufferPool(1024, 2);
    expect(pool.take(1000)).toBeUndefined();
    const first = pool.take(1024)!;
    expect(first.bytes.length).toBe(1024);
    first.hold();
    first.release();
    // Still held once (by its taker): a new take gets other memory.
    const second = pool.take(1024)!;
    expect(second.bytes.buffer).not.toBe(first.bytes.buffer);
    first.release();
    expect(pool.freeCount).toBe(1);
    expect(pool.take(1024)!.bytes.buffer).toBe(first.bytes.buffer);
    expect(pool.freeCount).toBe(0);
  });

  it('keeps at most maxFree buffers, none once closed', () => {
    const pool = new BufferPool(16, 2);
    const taken = [pool.take(16)!, pool.take(16)!, pool.take(16)!];
    for (const buffer of taken) buffer.release();
    expect(pool.freeCount).toBe(2);
    pool.close();
    expect(pool.freeCount).toBe(0);
    expect(pool.take(16)).toBeUndefined();
  });

  it('refuses a release without a hold, and a hold after the last release', () => {
    const buffer = new BufferPool(16, 1).take(16)!;
    buffer.release();
    expect(() => buffer.release()).toThrow(/released more often/);
    expect(() => buffer.hold()).toThrow(/after its last release/);
  });

  it('bytes cut from a pooled buffer keep naming it; other bytes do not', () => {
    const memory = new BufferPool(64, 1).take(64)!;
    const chunks = ByteChunks.of([memory.bytes.subarray(0, 32), Buffer.alloc(8)]).livingIn(memory);
    expect(chunks.memory).toBe(memory);
    expect(chunks.subrange(4, 36).memory).toBe(memory);
    expect(ByteChunks.of([Buffer.alloc(8)]).livingIn(memory).memory).toBeUndefined();
  });
});
