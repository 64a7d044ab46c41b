import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/**
 * Sends an object's bytes through a few reused chunk buffers instead of a fresh buffer per disk read:
 * fresh external memory drives V8 into full garbage collections, which cost the server more CPU per GiB
 * than the disk reads and socket writes themselves.
 */
export const FILE_CHUNK_BYTES = 512 * 1024;
const MAX_SPARE_CHUNKS = 16;
const spareChunks: Buffer[] = [];

const PAGE_BYTES = 4096;
/**
 * Where a disk read lands in its chunk, relative to the file position's place in its page. The kernel copies
 * page-cache bytes to user memory with `rep movsb`, which on some x86 CPUs (measured: AMD EPYC) runs at a third
 * of its speed when the destination is 1–31 bytes past the source modulo 4 KiB, and a freshly allocated buffer
 * starts exactly there: 16 bytes (glibc's header) past a page. Half a page away is far from that zone whatever
 * small offset the allocator adds. `bench/copy-distance.mjs` measures it.
 */
const COPY_DISTANCE = 2048;

function takeChunk(): Buffer {
  return spareChunks.pop() ?? Buffer.allocUnsafeSlow(FILE_CHUNK_BYTES + PAGE_BYTES);
}

/** The part of `chunk` that a read from file `position` goes into. */
function landingFor(chunk: Buffer, position: number): Buffer {
  const start = (position + COPY_DISTANCE) % PAGE_BYTES;
  return chunk.subarray(start, start + FILE_CHUNK_BYTES);
}

function giveBack(chunk: Buffer): void {
  if (spareChunks.length < MAX_SPARE_CHUNKS) spareChunks.push(chunk);
}

/** How many chunk buffers wait for reuse (for tests). */
export function spareChunkCount(): number {
  return spareChunks.length;
}

export class FileShrankError extends Error {}

/**
 * Writes bytes `start..end` (inclusive) of `handle` as the response body and ends it; reads the next chunk
 * while the previous one is being written. A chunk is reused only after its write callback reported it handed
 * to the kernel; one still in flight when the connection dies is left to the garbage collector, so no socket
 * write can ever send bytes of a later read. Rejects when the client goes away, the disk fails, or the file
 * is shorter than announced; the caller then destroys the response.
 */
export async function sendFileRange(handle: FileHandle, start: number, end: number, response: ServerResponse): Promise<void> {
  const gone = connectionGone(response);
  let writing: Promise<Buffer> | undefined;
  let position = start;
  while (position <= end) {
    const chunk = takeChunk();
    const landing = landingFor(chunk, position);
    const { bytesRead } = await handle.read(landing, 0, Math.min(FILE_CHUNK_BYTES, end - position + 1), position);
    if (bytesRead === 0) throw new FileShrankError(`the file ended at byte ${position}, before byte ${end}`);
    position += bytesRead;
    if (writing) giveBack(await Promise.race([writing, gone]));
    writing = writeChunk(response, chunk, landing.subarray(0, bytesRead));
    // A write that fails while the next chunk is read must not count as an unhandled rejection.
    writing.catch(() => undefined);
  }
  if (writing) giveBack(await Promise.race([writing, gone]));
  response.end();
}

function writeChunk(response: ServerResponse, chunk: Buffer, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    response.write(bytes, (error) => (error ? reject(error) : resolve(chunk)));
  });
}

/** Rejects when the connection closes before the response finished: a write callback may then never come. */
function connectionGone(response: ServerResponse): Promise<never> {
  const gone = new Promise<never>((_, reject) => {
    response.once('close', () => reject(new Error('the client closed the connection')));
  });
  // Closing after a complete response is normal: nobody awaits `gone` then.
  gone.catch(() => undefined);
  return gone;
}
