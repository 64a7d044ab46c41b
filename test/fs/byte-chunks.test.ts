import { describe, expect, it } from 'vitest';
import { ByteChunks } from '../../src/fs/byte-chunks.js';

const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => i));
/** The same 100 bytes cut in uneven chunks, as a socket delivers them. */
const chunked = ByteChunks.of([bytes.subarray(0, 7), bytes.subarray(7, 8), bytes.subarray(8, 50), bytes.subarray(50, 100)]);

describe('ByteChunks', () => {
  it('knows its length, and an empty list is empty', () => {
    expect(chunked.length).toBe(100);
    expect(ByteChunks.of([]).length).toBe(0);
  });

  it.each([
    [0, 100],
    [0, 7],
    [7, 8],
    [5, 60],
    [49, 51],
    [99, 100],
    [30, 30],
    [90, 150],
    [-5, 3],
  ])('subrange(%i, %i) holds exactly those bytes', (start, end) => {
    const part = chunked.subrange(start, end);
    const expected = bytes.subarray(Math.max(0, start), Math.min(100, end));
    const target = Buffer.alloc(expected.length);
    expect(part.length).toBe(expected.length);
    expect(part.copyTo(target, 0, 0, part.length)).toBe(expected.length);
    expect(target.equals(expected)).toBe(true);
  });

  it.each([
    { what: 'all of it', targetBytes: 100, targetStart: 0, from: 0, to: 100, copied: 100 },
    { what: 'across three chunks', targetBytes: 60, targetStart: 0, from: 3, to: 60, copied: 57 },
    { what: 'into the middle of the target', targetBytes: 20, targetStart: 10, from: 45, to: 55, copied: 10 },
    { what: 'no further than the target reaches', targetBytes: 16, targetStart: 6, from: 0, to: 100, copied: 10 },
    { what: 'no further than the bytes reach', targetBytes: 50, targetStart: 0, from: 90, to: 140, copied: 10 },
    { what: 'nothing from an empty range', targetBytes: 10, targetStart: 0, from: 40, to: 40, copied: 0 },
  ])('copyTo copies $what', ({ targetBytes, targetStart, from, to, copied }) => {
    const target = Buffer.alloc(targetBytes, 0xff);
    expect(chunked.copyTo(target, targetStart, from, to)).toBe(copied);
    expect(target.subarray(targetStart, targetStart + copied).equals(bytes.subarray(from, from + copied))).toBe(true);
    // Bytes outside the copied span are untouched.
    expect(target.subarray(0, targetStart).every((byte) => byte === 0xff)).toBe(true);
    expect(target.subarray(targetStart + copied).every((byte) => byte === 0xff)).toBe(true);
  });

  it('a subrange of a subrange is still a view of the same memory (no copy)', () => {
    const source = Buffer.from(bytes);
    const inner = ByteChunks.of([source.subarray(0, 40), source.subarray(40)]).subrange(10, 90).subrange(20, 40);
    source[35] = 0xee;
    const target = Buffer.alloc(20);
    inner.copyTo(target, 0, 0, 20);
    expect(target[5]).toBe(0xee);
  });
});
