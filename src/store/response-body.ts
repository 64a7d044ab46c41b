import type { ResponseBody } from './buffered-response.js';
import { ProtocolError } from './errors.js';

export { MAX_ERROR_BODY_BYTES } from './buffered-response.js';

/** The whole body as one Buffer; one that broke off rejects with why, one of the wrong length is a protocol fault. */
export async function readBody(body: ResponseBody, expectedBytes: number | undefined, what: string): Promise<Buffer> {
  const received = await body.received;
  if (received.error !== undefined) throw received.error;
  if (expectedBytes !== undefined && received.bytes !== expectedBytes) {
    const how = received.bytes > expectedBytes ? 'is longer than' : `ended after ${received.bytes} bytes of`;
    throw new ProtocolError(`${what}: the body ${how} its Content-Length ${expectedBytes}`);
  }
  return joinChunks(received.chunks, received.bytes);
}

/** At most `maxBytes` of the body as UTF-8 text (error answers are kept up to `MAX_ERROR_BODY_BYTES`). */
export async function readText(body: ResponseBody, maxBytes: number): Promise<string> {
  const received = await body.received;
  if (received.error !== undefined && received.bytes === 0) throw received.error;
  return joinChunks(received.chunks, received.bytes).subarray(0, maxBytes).toString('utf8');
}

/** One Buffer of the chunks; a single chunk is returned as it is. */
export function joinChunks(chunks: readonly Buffer[], bytes: number): Buffer {
  if (chunks.length === 1) return chunks[0] as Buffer;
  return Buffer.concat(chunks as Buffer[], bytes);
}
