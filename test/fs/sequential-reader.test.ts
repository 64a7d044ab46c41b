import { describe, expect, it } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import { SequentialReader } from '../../src/fs/sequential-reader.js';
import { ServerError } from '../../src/store/errors.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { errnoOf } from './fixture.js';

const KiB = 1024;
const options = { initialWindowBytes: 64 * KiB, maxWindowBytes: 256 * KiB };

function setup(sizeBytes: number) {
  const bucket = new MemoryBucket();
  const data = Buffer.alloc(sizeBytes);
  for (let i = 0; i < sizeBytes; i += 1) data[i] = (i * 13 + 1) % 256;
  bucket.set('obj', data);
  const reader = new SequentialReader(bucket, { key: 'obj', size: sizeBytes, version: '1' }, options);
  return { bucket, data, reader };
}

describe('SequentialReader', () => {
  it('streams a file with windows that double up to the maximum, buffering a bounded amount', async () => {
    const size = 3 * 1024 * KiB + 5;
    const { bucket, data, reader } = setup(size);
    const out = Buffer.alloc(size);
    const chunk = Buffer.alloc(16 * KiB);
    let maxBuffered = 0;
    for (let position = 0; position < size; ) {
      const count = await reader.read(chunk, chunk.length, position);
      chunk.copy(out, position, 0, count);
      position += count;
      maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
    }
    expect(out.equals(data)).toBe(true);
    const lengths = bucket.getRequests.map((request) => request.length);
    expect(lengths.slice(0, 3)).toEqual([64 * KiB, 128 * KiB, 256 * KiB]);
    expect(Math.max(...lengths.map((length) => length ?? 0))).toBe(256 * KiB);
    expect(bucket.getRequests.length).toBeLessThan(size / (128 * KiB));
    expect(maxBuffered).toBeLessThanOrEqual(2 * options.maxWindowBytes + 16 * KiB);
    reader.close();
  });

  it('serves a far seek with one exact GET and restarts the window small', async () => {
    const { bucket, data, reader } = setup(2 * 1024 * KiB);
    const target = Buffer.alloc(4 * KiB);
    await reader.read(target, 4 * KiB, 0);
    bucket.resetCalls();
    expect(await reader.read(target, 4 * KiB, 1500 * KiB)).toBe(4 * KiB);
    expect(target.equals(data.subarray(1500 * KiB, 1504 * KiB))).toBe(true);
    expect(bucket.getRequests).toEqual([{ key: 'obj', offset: 1500 * KiB, length: 4 * KiB }]);
    expect(await reader.read(target, 4 * KiB, 1504 * KiB)).toBe(4 * KiB);
    expect(target.equals(data.subarray(1504 * KiB, 1508 * KiB))).toBe(true);
    expect(bucket.getRequests[1]).toEqual({ key: 'obj', offset: 1504 * KiB, length: 64 * KiB });
    reader.close();
  });

  it('fetches a small object whole on the first read', async () => {
    const { bucket, data, reader } = setup(10 * KiB);
    const target = Buffer.alloc(KiB);
    for (let position = 0; position < data.length; position += KiB) {
      expect(await reader.read(target, KiB, position)).toBe(KiB);
      expect(target.equals(data.subarray(position, position + KiB))).toBe(true);
    }
    expect(await reader.read(target, KiB, data.length)).toBe(0);
    expect(bucket.calls.get).toBe(1);
    reader.close();
  });

  it('forgets a failed fetch so the next read tries again', async () => {
    const { bucket, data, reader } = setup(100 * KiB);
    bucket.failWith('get', () => new ServerError('down', { status: 503 }));
    const target = Buffer.alloc(KiB);
    expect(await errnoOf(reader.read(target, KiB, 0))).toBe(Errno.EIO);
    bucket.clearFailures();
    expect(await reader.read(target, KiB, 0)).toBe(KiB);
    expect(target.equals(data.subarray(0, KiB))).toBe(true);
    reader.close();
  });

  it('fails with EIO when a window of a changed object arrives', async () => {
    const { bucket, reader } = setup(512 * KiB);
    const target = Buffer.alloc(32 * KiB);
    await reader.read(target, target.length, 0);
    bucket.set('obj', Buffer.alloc(512 * KiB, 1));
    let failure: number | 'resolved' = 'resolved';
    for (let position = 32 * KiB; position < 512 * KiB && failure === 'resolved'; position += target.length) {
      failure = await errnoOf(reader.read(target, target.length, position));
    }
    expect(failure).toBe(Errno.EIO);
    reader.close();
  });
});

describe('SequentialReader with reads out of order', () => {
  it('treats reads near the cursor as the same stream and keeps its windows', async () => {
    const { bucket, data, reader } = setup(1024 * KiB);
    const a = Buffer.alloc(16 * KiB);
    const b = Buffer.alloc(16 * KiB);
    await reader.read(a, a.length, 0);
    const [countLater, countEarlier] = await Promise.all([reader.read(b, b.length, 32 * KiB), reader.read(a, a.length, 16 * KiB)]);
    expect(countLater).toBe(16 * KiB);
    expect(countEarlier).toBe(16 * KiB);
    expect(b.equals(data.subarray(32 * KiB, 48 * KiB))).toBe(true);
    expect(a.equals(data.subarray(16 * KiB, 32 * KiB))).toBe(true);
    expect(bucket.getRequests.every((request) => (request.length ?? 0) >= 64 * KiB)).toBe(true);
    reader.close();
  });
});
