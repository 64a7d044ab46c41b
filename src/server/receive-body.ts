import type { FileHandle } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';

/** Bytes gathered before one write: fewer syscalls than one per socket chunk, little memory per upload. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * Writes the request body into `handle` from `position` on, in order, telling `onChunk` of each piece as it
 * arrives. Resolves with the byte count once the body ended; rejects when it broke off.
 */
export async function receiveInto(request: IncomingMessage, handle: FileHandle, position: number, onChunk?: (chunk: Buffer) => void): Promise<number> {
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let written = 0;
  const writeBatch = async (): Promise<void> => {
    if (batchBytes === 0) return;
    const buffers = batch;
    const bytes = batchBytes;
    batch = [];
    batchBytes = 0;
    let done = 0;
    // writev may write less than asked (a full disk, a signal): go on from where it stopped.
    while (done < bytes) {
      const { bytesWritten } = await handle.writev(done === 0 ? buffers : [Buffer.concat(buffers).subarray(done)], position + written + done);
      done += bytesWritten;
    }
    written += bytes;
  };
  for await (const chunk of request as AsyncIterable<Buffer>) {
    onChunk?.(chunk);
    batch.push(chunk);
    batchBytes += chunk.length;
    if (batchBytes >= WRITE_BATCH_BYTES) await writeBatch();
  }
  await writeBatch();
  return written;
}

/** Whether two open files hold the same bytes (sizes already known equal); stops at the first difference. */
export async function sameBytes(a: FileHandle, b: FileHandle, sizeBytes: number): Promise<boolean> {
  const left = Buffer.allocUnsafe(Math.min(WRITE_BATCH_BYTES, sizeBytes));
  const right = Buffer.allocUnsafe(left.length);
  for (let position = 0; position < sizeBytes; ) {
    const [l, r] = await Promise.all([a.read(left, 0, left.length, position), b.read(right, 0, right.length, position)]);
    if (l.bytesRead !== r.bytesRead || l.bytesRead === 0) return false;
    if (!left.subarray(0, l.bytesRead).equals(right.subarray(0, r.bytesRead))) return false;
    position += l.bytesRead;
  }
  return true;
}
