import { hash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { IdentityMemo } from './identity-memo.js';

/**
 * The on-disk format of one cached block: one file per block of one version of one object.
 *
 * ```
 * offset  bytes  field (little-endian integers)
 * 0       8      magic "BKFSBLK1"
 * 8       4      format version (1)
 * 12      4      dataOffset: where the data starts, a multiple of 4096
 * 16      4      dataBytes: length of the data (the block's bytes; shorter than a block only at the object's end)
 * 20      4      pieceBytes: 65536
 * 24      4      pieceCount: ceil(dataBytes / pieceBytes)
 * 28      4      keyBytes: length of the key
 * 32      4      headerCrc: CRC-32 of bytes [0, 32) followed by bytes [36, 36 + keyBytes + 4 * pieceCount)
 * 36      keyBytes  the key, UTF-8 JSON: {"endpoint","bucket","object","version","size","blockBytes","blockIndex"}
 * ...     4 * pieceCount  CRC-32 of each piece of the data, in order (the last piece may be short)
 * ...     zeros up to dataOffset
 * dataOffset  dataBytes  the data
 * ```
 *
 * The file is exactly `dataOffset + dataBytes` long; anything else (a truncation) is not a block. CRC-32 is
 * zlib's (`zlib.crc32` in Node, libdeflate's equal one in C), so both engines check pieces the same way: a reader
 * checks only the pieces it serves. A block is written under a temporary name in its folder and renamed into
 * place, so a reader sees either no file or a whole one; it is not fsynced, because a crash that loses its
 * pages leaves a file whose checksums fail, and such a file is dropped and fetched again.
 *
 * Where it lives: `DIR/blocks/<2 hex>/<object hash>-<version hash>-<blockBytes>-<blockIndex>`, one of 256 shard
 * folders, picked by the object's hash, holding the blocks of every version of the objects hashed there; the
 * folders are made when the cache dir is opened. A block is one file and no folder: a new object costs no mkdir
 * (and no second inode). An object's blocks are
 * the names of its shard that start with its hash, so a deleted or changed object's blocks are found with one
 * listing of one shard. Temporary files start with `.tmp-`. The layout of before (a folder per object inside
 * the shards) is told apart by its folders: its blocks are never served, and the cache's next count of its
 * files removes them (`cache-space.ts`).
 */

export const BLOCK_FILE_MAGIC = 'BKFSBLK1';
export const BLOCK_FILE_FORMAT_VERSION = 1;
export const PIECE_BYTES = 64 * 1024;
/** Data starts on a page boundary: a page-aligned pread or splice of it touches whole pages. */
export const DATA_ALIGNMENT_BYTES = 4096;
export const FIXED_HEADER_BYTES = 36;
const HEADER_CRC_OFFSET = 32;
/** A header is read with one pread of this many bytes first; a longer key needs a second. */
export const HEADER_PROBE_BYTES = DATA_ALIGNMENT_BYTES;
/** Keys longer than this are not cached (an object name is at most 1 KiB in S3; AIStore allows more). */
export const MAX_KEY_BYTES = 16 * 1024;
export const TEMP_PREFIX = '.tmp-';
export const BLOCKS_DIR_NAME = 'blocks';
/** Which layout of `DIR/blocks` this is, for the shared state: another one is recounted (and its old files dropped). */
export const BLOCK_LAYOUT_VERSION = 2;

/** What a cached block is of: a block of one version of one object of one bucket of one cluster. */
export interface BlockKey {
  readonly endpoint: string;
  readonly bucket: string;
  readonly object: string;
  /** `Ais-Version` or ETag: blocks are only kept for objects that have one. */
  readonly version: string;
  /** The object's size: a new size is a new key even if the version string repeats. */
  readonly size: number;
  readonly blockBytes: number;
  readonly blockIndex: number;
}

/** The parsed header of a block file that passed its checks. */
export interface BlockHeader {
  readonly dataOffset: number;
  readonly dataBytes: number;
  readonly pieceBytes: number;
  readonly pieceCrcs: Uint32Array;
}

export class BlockFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BlockFileError';
  }
}

/**
 * Key objects whose derived texts and paths are kept: a file's offer, its open and its fill ask for them, with a
 * listing's batch of other offers between (more than the reads and fills under way), and a key object is never
 * changed (its fields are read-only).
 */
export const RECENT_KEYS = 4_096;
const encodedKeys = new IdentityMemo<BlockKey, string>(RECENT_KEYS);
const blockPaths = new IdentityMemo<BlockKey, string>(RECENT_KEYS);

export function encodeKey(key: BlockKey): string {
  return encodedKeys.get(key, keyText);
}

function keyText(key: BlockKey): string {
  return JSON.stringify({
    endpoint: key.endpoint,
    bucket: key.bucket,
    object: key.object,
    version: key.version,
    size: key.size,
    blockBytes: key.blockBytes,
    blockIndex: key.blockIndex,
  });
}

/** Names hashed lately: every read and write of a block asks for its path, many times per object. */
const recentHashes = new Map<string, string>();
const RECENT_HASHES_MAX = 8_192;

function hashHex(text: string, hexChars: number): string {
  const memo = `${hexChars}\u0000${text}`;
  let hex = recentHashes.get(memo);
  if (hex === undefined) {
    hex = hash('sha256', text, 'hex').slice(0, hexChars);
    if (recentHashes.size >= RECENT_HASHES_MAX) recentHashes.clear();
    recentHashes.set(memo, hex);
  }
  return hex;
}

/** Every shard folder's name, `00` to `ff`: the first two hex digits of an object's hash (`shardFolder`). */
export const SHARD_FOLDERS: readonly string[] = Array.from({ length: 256 }, (_, index) => index.toString(16).padStart(2, '0'));

/** An object, whichever its version: the part of a key naming its blocks' shard and file name prefix. */
export type ObjectName = Pick<BlockKey, 'endpoint' | 'bucket' | 'object'>;

function objectHash(key: ObjectName): string {
  return hashHex(`${key.endpoint}\u0000${key.bucket}\u0000${key.object}`, 32);
}

/** The shard folder, relative to `DIR/blocks`, holding every block of one object (all versions). */
export function shardFolder(key: ObjectName): string {
  return objectHash(key).slice(0, 2);
}

/** The prefix of the file names, within the shard folder, of every block of one object (all versions). */
export function objectStem(key: ObjectName): string {
  return `${objectHash(key)}-`;
}

/** The prefix of the file names, within the shard folder, of the blocks of one version of the object. */
export function versionStem(key: ObjectName & Pick<BlockKey, 'version' | 'size' | 'blockBytes'>): string {
  return `${objectStem(key)}${hashHex(`${key.version}\u0000${key.size}`, 16)}-${key.blockBytes}-`;
}

/** The block's file, relative to `DIR/blocks`. */
export function blockFilePath(key: BlockKey): string {
  return blockPaths.get(key, pathOfBlock);
}

function pathOfBlock(key: BlockKey): string {
  // The stem starts with the object's hash, whose first two digits name the shard (`shardFolder`). A shard and a
  // file name hold no separator: joined as they are, nothing to normalize.
  const stem = versionStem(key);
  return `${stem.slice(0, 2)}/${stem}${key.blockIndex}`;
}

/** The object stem a name of a shard folder starts with; '' for a name that is no block's. */
export function objectStemOf(name: string): string {
  return name.slice(0, name.indexOf('-') + 1);
}

/** The block index a file name of `stem`'s version ends with; undefined for any other name. */
export function blockIndexOf(name: string, stem: string): number | undefined {
  if (!name.startsWith(stem)) return undefined;
  const index = name.slice(stem.length);
  return /^\d+$/.test(index) ? Number(index) : undefined;
}

export function pieceCountOf(dataBytes: number): number {
  return Math.ceil(dataBytes / PIECE_BYTES);
}

/** The CRC-32 of each piece of `data`, given as the chunks it arrived in (joined, they are the block). */
export function pieceCrcsOf(data: Buffer | readonly Buffer[]): Uint32Array {
  const chunks = Buffer.isBuffer(data) ? [data] : data;
  const crcs = new Uint32Array(pieceCountOf(byteLengthOf(chunks)));
  let piece = 0;
  let pieceFilled = 0;
  for (const chunk of chunks) {
    for (let at = 0; at < chunk.length; ) {
      const take = Math.min(PIECE_BYTES - pieceFilled, chunk.length - at);
      crcs[piece] = crc32(chunk.subarray(at, at + take), pieceFilled === 0 ? 0 : crcs[piece]);
      at += take;
      pieceFilled += take;
      if (pieceFilled === PIECE_BYTES) {
        piece += 1;
        pieceFilled = 0;
      }
    }
  }
  return crcs;
}

export function byteLengthOf(chunks: readonly Buffer[]): number {
  let bytes = 0;
  for (const chunk of chunks) bytes += chunk.length;
  return bytes;
}

/** Where the data starts in a block file of a key of `keyBytes` and `dataBytes` of data: the header's length. */
export function dataOffsetFor(keyBytes: number, dataBytes: number): number {
  return Math.ceil((FIXED_HEADER_BYTES + keyBytes + 4 * pieceCountOf(dataBytes)) / DATA_ALIGNMENT_BYTES) * DATA_ALIGNMENT_BYTES;
}

/** The key as a block's header holds it (UTF-8 of this text); a key too long to cache is a `BlockFileError`. */
export function headerKeyOf(key: BlockKey): string {
  const text = encodeKey(key);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_KEY_BYTES) throw new BlockFileError(`key of ${bytes} bytes is too long to cache`);
  return text;
}

/** The header (up to `dataOffset`, padding included) of a block holding `data` under `key`. */
export function encodeHeader(key: BlockKey, data: Buffer | readonly Buffer[]): Buffer {
  const keyBytes = Buffer.from(headerKeyOf(key), 'utf8');
  const crcs = pieceCrcsOf(data);
  const used = FIXED_HEADER_BYTES + keyBytes.length + 4 * crcs.length;
  const dataOffset = dataOffsetFor(keyBytes.length, Buffer.isBuffer(data) ? data.length : byteLengthOf(data));
  const header = Buffer.alloc(dataOffset);
  header.write(BLOCK_FILE_MAGIC, 0, 'latin1');
  header.writeUInt32LE(BLOCK_FILE_FORMAT_VERSION, 8);
  header.writeUInt32LE(dataOffset, 12);
  header.writeUInt32LE(Buffer.isBuffer(data) ? data.length : byteLengthOf(data), 16);
  header.writeUInt32LE(PIECE_BYTES, 20);
  header.writeUInt32LE(crcs.length, 24);
  header.writeUInt32LE(keyBytes.length, 28);
  keyBytes.copy(header, FIXED_HEADER_BYTES);
  for (let i = 0; i < crcs.length; i += 1) header.writeUInt32LE(crcs[i]!, FIXED_HEADER_BYTES + keyBytes.length + 4 * i);
  header.writeUInt32LE(headerCrcOf(header, used), HEADER_CRC_OFFSET);
  return header;
}

function headerCrcOf(header: Buffer, used: number): number {
  return crc32(header.subarray(FIXED_HEADER_BYTES, used), crc32(header.subarray(0, HEADER_CRC_OFFSET)));
}

/**
 * Checks a header read from the start of a file of `fileBytes` bytes against the key it should name. `probe`
 * holds the file's first bytes (at least `headerBytesNeeded(probe)` of them). Throws `BlockFileError` on any
 * mismatch: a truncated, foreign or damaged file is not a block.
 */
export function decodeHeader(probe: Buffer, expectedKey: BlockKey, fileBytes: number): BlockHeader {
  if (probe.length < FIXED_HEADER_BYTES || probe.toString('latin1', 0, 8) !== BLOCK_FILE_MAGIC) throw new BlockFileError('not a block file');
  if (probe.readUInt32LE(8) !== BLOCK_FILE_FORMAT_VERSION) throw new BlockFileError(`unknown block file version ${probe.readUInt32LE(8)}`);
  const dataOffset = probe.readUInt32LE(12);
  const dataBytes = probe.readUInt32LE(16);
  const pieceBytes = probe.readUInt32LE(20);
  const pieceCount = probe.readUInt32LE(24);
  const keyBytes = probe.readUInt32LE(28);
  const used = FIXED_HEADER_BYTES + keyBytes + 4 * pieceCount;
  if (pieceBytes !== PIECE_BYTES || pieceCount !== pieceCountOf(dataBytes) || keyBytes > MAX_KEY_BYTES || used > dataOffset || dataOffset % DATA_ALIGNMENT_BYTES !== 0) {
    throw new BlockFileError('inconsistent block header');
  }
  if (probe.length < used) throw new BlockFileError('short block header');
  if (headerCrcOf(probe, used) !== probe.readUInt32LE(HEADER_CRC_OFFSET)) throw new BlockFileError('block header checksum mismatch');
  if (probe.toString('utf8', FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + keyBytes) !== encodeKey(expectedKey)) throw new BlockFileError('block file of another key');
  if (fileBytes !== dataOffset + dataBytes) throw new BlockFileError(`block file is ${fileBytes} bytes, expected ${dataOffset + dataBytes}`);
  const pieceCrcs = new Uint32Array(pieceCount);
  for (let i = 0; i < pieceCount; i += 1) pieceCrcs[i] = probe.readUInt32LE(FIXED_HEADER_BYTES + keyBytes + 4 * i);
  return { dataOffset, dataBytes, pieceBytes, pieceCrcs };
}

/** Bytes from the file's start that `decodeHeader` needs, once the fixed part is in `probe`. */
export function headerBytesNeeded(probe: Buffer): number {
  if (probe.length < FIXED_HEADER_BYTES) return FIXED_HEADER_BYTES;
  return FIXED_HEADER_BYTES + probe.readUInt32LE(28) + 4 * probe.readUInt32LE(24);
}

/** The pieces `[first, last]` that data bytes `[from, to)` fall in. */
export function piecesCovering(from: number, to: number): { first: number; last: number } {
  return { first: Math.floor(from / PIECE_BYTES), last: Math.floor((Math.max(from + 1, to) - 1) / PIECE_BYTES) };
}

/**
 * Whether `bytes`, the data of pieces `first, first + 1, ...` in order (the last may be short at the end of the
 * data), match their checksums.
 */
export function piecesMatch(header: BlockHeader, first: number, bytes: Buffer): boolean {
  for (let start = 0, piece = first; start < bytes.length; start += PIECE_BYTES, piece += 1) {
    if (piece >= header.pieceCrcs.length || crc32(bytes.subarray(start, start + PIECE_BYTES)) !== header.pieceCrcs[piece]) return false;
  }
  return true;
}
