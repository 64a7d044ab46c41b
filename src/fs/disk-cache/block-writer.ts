import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { dirname, join } from 'node:path';
import { TEMP_PREFIX, blockFilePath, byteLengthOf, encodeHeader, headerKeyOf, type BlockKey } from './block-file.js';
import { errnoError, nativeBlockWriter } from './native-block-writer.js';

/**
 * Writing one block file (`block-file.ts` has its format) with as few calls to the disk as it takes: open a
 * temporary name in the block's shard folder, one vectored write of header and data, close, rename into
 * place. The shard folders exist from the cache's opening on; one removed since is made again when that open
 * finds it missing. The steps run as one job on
 * the thread pool where the native writer is built (`native/cache_fill.c`, which also builds the header and its
 * CRCs there, off the JS thread), else as the callback forms of `fs` (a `FileHandle` costs several times their
 * CPU per call): each hop to the pool costs the JS thread more than the call itself, and a fill makes
 * thousands a second. No fsync: a block whose pages a crash lost fails its checksums and is fetched again.
 */

export interface WrittenBlock {
  /** Bytes the file takes. */
  readonly fileBytes: number;
}

/** Temporary names: this process's pid and a token (pids repeat across containers sharing a dir), then a count. */
const tempStem = `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}-`;
let tempCount = 0;

/** A temporary name in `folder` no other writer uses. */
export function tempFilePath(folder: string): string {
  tempCount += 1;
  return `${folder}/${tempStem}${tempCount}`;
}

const PAGE_BYTES = 4096;

/**
 * Memory of its own (not a slice of Node's shared pool) for blocks that will be written to the cache: starting
 * on a page boundary where the native writer is built, which then writes a large block from it past the page
 * cache (O_DIRECT), without copying it there.
 */
export function blockBuffer(bytes: number): Buffer {
  const native = nativeBlockWriter();
  if (native === undefined) return Buffer.allocUnsafeSlow(bytes);
  const memory = Buffer.allocUnsafeSlow(bytes + PAGE_BYTES);
  const gap = native.alignmentGap(memory);
  return memory.subarray(gap, gap + bytes);
}

/** Which steps write a block: native (one hop to the thread pool) where built, else JS. */
export type BlockWriterKind = 'native' | 'js';

export function defaultBlockWriter(): BlockWriterKind {
  return nativeBlockWriter() === undefined ? 'js' : 'native';
}

/**
 * Writes `data` (one buffer, or the chunks it arrived in) as the block `key` under `blocksDir`. Errors are the
 * file system's (ENOSPC, EIO, ...); the temporary file is removed on failure.
 */
export async function writeBlockFile(
  blocksDir: string,
  key: BlockKey,
  data: Buffer | readonly Buffer[],
  writer: BlockWriterKind = defaultBlockWriter(),
): Promise<WrittenBlock> {
  const chunks = Buffer.isBuffer(data) ? [data] : data;
  const final = join(blocksDir, blockFilePath(key));
  const folder = dirname(final);
  const native = writer === 'native' ? nativeBlockWriter() : undefined;
  if (native !== undefined) {
    const temp = tempFilePath(folder);
    const outcome = await native.writeBlockFile(folder, temp, final, headerKeyOf(key), chunks);
    if (outcome < 0) throw errnoError(-outcome, temp);
    return { fileBytes: outcome };
  }
  return writeWithJs(final, folder, key, chunks);
}

/** A block for `writeBlockFiles`: its key, the file it goes to (`blockFilePath` under the blocks dir), its bytes. */
export interface BlockToWrite {
  readonly key: BlockKey;
  readonly path: string;
  readonly data: Buffer;
}

/** What became of one block of `writeBlockFiles`: its file, or the error its write met. */
export type WriteOutcome = WrittenBlock | Error;

/**
 * Writes several blocks (each in one buffer, as a fill holds it) as one job of the native writer: the hop to
 * the thread pool, its wake-up and its completion are paid once for all of them. Without the native writer,
 * one after the other by the JS steps. Never rejects: each block's outcome, in order.
 */
export async function writeBlockFiles(blocks: readonly BlockToWrite[], writer: BlockWriterKind = defaultBlockWriter()): Promise<WriteOutcome[]> {
  const native = writer === 'native' ? nativeBlockWriter() : undefined;
  if (native === undefined) {
    const outcomes: WriteOutcome[] = [];
    for (const { key, path, data } of blocks) outcomes.push(await writeWithJs(path, dirname(path), key, [data]).catch((error: Error) => error));
    return outcomes;
  }
  const outcomes: WriteOutcome[] = new Array<WriteOutcome>(blocks.length);
  const texts: string[] = [];
  const buffers: Buffer[] = [];
  const slots: number[] = [];
  const temps: string[] = [];
  for (let index = 0; index < blocks.length; index += 1) {
    const { key, path, data } = blocks[index] as BlockToWrite;
    let keyText: string;
    try {
      keyText = headerKeyOf(key);
    } catch (error) {
      outcomes[index] = error as Error;
      continue;
    }
    const temp = tempFilePath(dirname(path));
    texts.push(temp, '\0', path, '\0', keyText, '\0');
    buffers.push(data);
    slots.push(index);
    temps.push(temp);
  }
  if (buffers.length > 0) {
    const written = await native.writeBlockFiles(texts.join(''), buffers);
    slots.forEach((slot, at) => {
      const bytes = written[at] as number;
      outcomes[slot] = bytes < 0 ? errnoError(-bytes, temps[at] as string) : { fileBytes: bytes };
    });
  }
  return outcomes;
}

/** The JS steps: temporary file in `folder` (made again if missing), one vectored write, close, rename to `final`. */
async function writeWithJs(final: string, folder: string, key: BlockKey, chunks: readonly Buffer[]): Promise<WrittenBlock> {
  const header = encodeHeader(key, chunks);
  const fileBytes = header.length + byteLengthOf(chunks);
  let temp = tempFilePath(folder);
  let fd: number;
  try {
    fd = await openExclusive(temp);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await call<void>((done) => fs.mkdir(folder, (failure) => done(failure?.code === 'EEXIST' ? null : failure)));
    temp = tempFilePath(folder);
    fd = await openExclusive(temp);
  }
  try {
    try {
      await writeAll(fd, [header, ...chunks], fileBytes);
    } finally {
      await call<void>((done) => fs.close(fd, done));
    }
    await call<void>((done) => fs.rename(temp, final, done));
  } catch (error) {
    fs.unlink(temp, () => {});
    throw error;
  }
  return { fileBytes };
}

function call<T>(start: (done: (error: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value as T))));
}

function openExclusive(path: string): Promise<number> {
  return call<number>((done) => fs.open(path, 'wx', 0o644, done));
}

/** A write to a regular file is short only when the disk is full or failing: the rest is written, or fails. */
async function writeAll(fd: number, buffers: readonly Buffer[], total: number): Promise<void> {
  let written = await call<number>((done) => fs.writev(fd, buffers, 0, done));
  if (written === total) return;
  const rest = Buffer.concat([...buffers]);
  while (written < total) {
    const wrote = await call<number>((done) => fs.write(fd, rest, written, total - written, written, done));
    if (wrote === 0) throw Object.assign(new Error('no space left on the cache device'), { code: 'ENOSPC' });
    written += wrote;
  }
}
