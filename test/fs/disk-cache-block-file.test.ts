import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BlockFileError,
  MAX_KEY_BYTES,
  PIECE_BYTES,
  blockFilePath,
  decodeHeader,
  encodeHeader,
  piecesCovering,
  piecesMatch,
  type BlockKey,
} from '../../src/fs/disk-cache/block-file.js';
import { blockBuffer, writeBlockFile, writeBlockFiles, type BlockWriterKind } from '../../src/fs/disk-cache/block-writer.js';
import { nativeBlockWriter } from '../../src/fs/disk-cache/native-block-writer.js';

const KEY: BlockKey = { endpoint: 'http://127.0.0.1:1', bucket: 'b', object: 'dir/obj', version: '3', size: 300_000, blockBytes: 262_144, blockIndex: 1 };

function patterned(bytes: number): Buffer {
  const data = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i += 1) data[i] = (i * 7 + 3) & 0xff;
  return data;
}

describe('block file format', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'block-file-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is written by the native writer in this build', () => {
    expect(nativeBlockWriter()).toBeDefined();
  });

  it.each<BlockWriterKind>(['native', 'js'])('writes (%s) a header naming the key, per-piece CRC-32s and page-aligned data, with no temporary file left', async (writer) => {
    const data = patterned(PIECE_BYTES * 2 + 100);
    // As a GET delivers it: chunks that do not fall on piece boundaries.
    const chunks = [data.subarray(0, 1000), data.subarray(1000, PIECE_BYTES + 7), data.subarray(PIECE_BYTES + 7)];
    const written = await writeBlockFile(dir, KEY, chunks, writer);
    const path = join(dir, blockFilePath(KEY));
    const file = await readFile(path);
    expect(written).toEqual({ fileBytes: file.length });
    const header = decodeHeader(file, KEY, file.length);
    // The native writer builds the header itself: byte for byte the one of the format's own encoder.
    expect(file.subarray(0, header.dataOffset).equals(encodeHeader(KEY, data))).toBe(true);
    expect(header.dataOffset % 4096).toBe(0);
    expect(header.dataBytes).toBe(data.length);
    expect([...header.pieceCrcs]).toEqual([crc32(data.subarray(0, PIECE_BYTES)), crc32(data.subarray(PIECE_BYTES, 2 * PIECE_BYTES)), crc32(data.subarray(2 * PIECE_BYTES))]);
    expect(file.subarray(header.dataOffset).equals(data)).toBe(true);
    expect(piecesMatch(header, 1, file.subarray(header.dataOffset + PIECE_BYTES))).toBe(true);
    expect(await readdir(join(path, '..'))).toEqual([path.slice(path.lastIndexOf('/') + 1)]);
  });

  it('refuses a truncated file, a flipped data byte, a damaged header and another key', async () => {
    const data = patterned(PIECE_BYTES + 10);
    await writeBlockFile(dir, KEY, data);
    const path = join(dir, blockFilePath(KEY));
    const file = await readFile(path);
    expect(() => decodeHeader(file.subarray(0, file.length - 1), KEY, file.length - 1)).toThrow(BlockFileError);
    expect(() => decodeHeader(file, { ...KEY, version: '4' }, file.length)).toThrow(/another key/);
    const damagedHeader = Buffer.from(file);
    damagedHeader[40] ^= 0x01;
    expect(() => decodeHeader(damagedHeader, KEY, file.length)).toThrow(/checksum/);
    const header = decodeHeader(file, KEY, file.length);
    const flipped = Buffer.from(file.subarray(header.dataOffset));
    flipped[PIECE_BYTES + 3] ^= 0x80;
    expect(piecesMatch(header, 0, flipped.subarray(0, PIECE_BYTES))).toBe(true);
    expect(piecesMatch(header, 1, flipped.subarray(PIECE_BYTES))).toBe(false);
    await writeFile(path, file.subarray(0, 100));
    expect((await stat(path)).size).toBe(100);
  });

  it.each<BlockWriterKind>(['native', 'js'])('fails (%s) with the file system\'s code, leaving no temporary file, and makes a missing shard folder', async (writer) => {
    const data = patterned(100);
    const path = join(dir, blockFilePath(KEY));
    await mkdir(path, { recursive: true });
    await expect(writeBlockFile(dir, KEY, data, writer)).rejects.toMatchObject({ code: 'EISDIR' });
    expect(await readdir(join(path, '..'))).toEqual([path.slice(path.lastIndexOf('/') + 1)]);
    const other = { ...KEY, object: 'elsewhere' };
    await rm(join(dir, blockFilePath(other), '..'), { recursive: true, force: true });
    expect(await writeBlockFile(dir, other, data, writer)).toEqual({ fileBytes: (await stat(join(dir, blockFilePath(other)))).size });
    await expect(writeBlockFile(dir, { ...other, object: 'x'.repeat(MAX_KEY_BYTES) }, data, writer)).rejects.toBeInstanceOf(BlockFileError);
  });

  it.each<BlockWriterKind>(['native', 'js'])('writes (%s) several blocks in one call, each as writeBlockFile would, one outcome each in order', async (writer) => {
    const keys = Array.from({ length: 5 }, (_, i) => ({ ...KEY, object: `batch/f${i}` }));
    const blocks = keys.map((key, i) => ({ key, path: join(dir, blockFilePath(key)), data: patterned(3000 + i) }));
    // One block the disk refuses (a folder where its file goes), one whose key is too long: the others are written all the same.
    await mkdir(blocks[1]!.path, { recursive: true });
    const tooLong = { ...KEY, object: 'x'.repeat(MAX_KEY_BYTES) };
    blocks[3] = { key: tooLong, path: join(dir, blockFilePath(tooLong)), data: patterned(10) };
    // A shard folder gone: the write makes it again.
    await rm(join(blocks[4]!.path, '..'), { recursive: true, force: true });
    const calls = nativeBlockWriter()!.writeCalls();
    const outcomes = await writeBlockFiles(blocks, writer);
    expect(nativeBlockWriter()!.writeCalls() - calls).toBe(writer === 'native' ? 1 : 0);
    expect(outcomes[1]).toMatchObject({ code: 'EISDIR' });
    expect(outcomes[3]).toBeInstanceOf(BlockFileError);
    for (const index of [0, 2, 4]) {
      const { key, path, data } = blocks[index]!;
      const file = await readFile(path);
      expect(outcomes[index]).toEqual({ fileBytes: file.length });
      const header = decodeHeader(file, key, file.length);
      expect(file.subarray(0, header.dataOffset).equals(encodeHeader(key, data))).toBe(true);
      expect(file.subarray(header.dataOffset).equals(data)).toBe(true);
      expect((await readdir(join(path, '..'))).filter((name) => name.startsWith('.tmp-'))).toEqual([]);
    }
    await expect(stat(blocks[3]!.path)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it.each<BlockWriterKind>(['native', 'js'])('writes (%s) each block as one file in one of 256 shard folders, no folder per object', async (writer) => {
    const keys = Array.from({ length: 40 }, (_, i) => ({ ...KEY, object: `set/f${i}`, blockIndex: i % 3 }));
    for (const key of keys) await writeBlockFile(dir, key, patterned(5000), writer);
    const shards = await readdir(dir, { withFileTypes: true });
    expect(shards.every((entry) => entry.isDirectory() && /^[0-9a-f]{2}$/.test(entry.name))).toBe(true);
    const files = [];
    for (const shard of shards) {
      for (const entry of await readdir(join(dir, shard.name), { withFileTypes: true })) {
        expect(entry.isFile()).toBe(true);
        files.push(join(shard.name, entry.name));
      }
    }
    expect(files.sort()).toEqual(keys.map(blockFilePath).sort());
  });

  it('writes a large block from page-aligned memory past the page cache, and it reads back and checks', async () => {
    const native = nativeBlockWriter()!;
    // A short last page, and a GET's chunks: whole pages, then the rest.
    const data = blockBuffer(16 * PIECE_BYTES + 123);
    data.set(patterned(data.length));
    const key = { ...KEY, size: 5_000_000, blockBytes: 16 * PIECE_BYTES * 2 };
    const before = native.directWrites();
    const written = await writeBlockFile(dir, key, [data.subarray(0, 8 * PIECE_BYTES), data.subarray(8 * PIECE_BYTES)], 'native');
    expect(native.directWrites()).toBe(before + 1);
    const file = await readFile(join(dir, blockFilePath(key)));
    expect(written.fileBytes).toBe(file.length);
    const header = decodeHeader(file, key, file.length);
    expect(file.subarray(0, header.dataOffset).equals(encodeHeader(key, data))).toBe(true);
    expect(file.subarray(header.dataOffset).equals(patterned(data.length))).toBe(true);
    expect(piecesMatch(header, 0, file.subarray(header.dataOffset))).toBe(true);
  });

  it('writes a small block, or one in memory off page boundaries, through the page cache, as right', async () => {
    const native = nativeBlockWriter()!;
    const before = native.directWrites();
    const small = blockBuffer(PIECE_BYTES);
    small.set(patterned(small.length));
    await writeBlockFile(dir, KEY, small, 'native');
    const offPage = blockBuffer(16 * PIECE_BYTES + 1).subarray(1);
    offPage.set(patterned(offPage.length));
    const other = { ...KEY, blockIndex: 2, blockBytes: 16 * PIECE_BYTES };
    await writeBlockFile(dir, other, offPage, 'native');
    expect(native.directWrites()).toBe(before);
    for (const [key, data] of [[KEY, small], [other, offPage]] as const) {
      const file = await readFile(join(dir, blockFilePath(key)));
      const header = decodeHeader(file, key, file.length);
      expect(file.subarray(header.dataOffset).equals(data)).toBe(true);
    }
  });

  it('names the pieces a data range falls in', () => {
    expect(piecesCovering(0, 1)).toEqual({ first: 0, last: 0 });
    expect(piecesCovering(PIECE_BYTES - 1, PIECE_BYTES + 1)).toEqual({ first: 0, last: 1 });
    expect(piecesCovering(PIECE_BYTES, 2 * PIECE_BYTES)).toEqual({ first: 1, last: 1 });
  });
});
