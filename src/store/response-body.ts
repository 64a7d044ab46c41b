import { ProtocolError } from './errors.js';
import type { ResponseBody } from './http-transport.js';

/** Most of an error body we read; the rest is dropped with the connection. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * Lets go of a body we do not need. Small leftovers are drained so the socket goes back to the pool; a large
 * one closes the connection rather than downloading it.
 */
export function discardBody(body: ResponseBody): void {
  body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(() => {
    // The connection is gone either way; nothing to report.
  });
}

/**
 * The whole body as one Buffer. With a known `Content-Length` the bytes are copied into a single buffer
 * allocated up front (no list of chunks and no final concat for large objects).
 */
export async function readBody(body: ResponseBody, expectedBytes: number | undefined, what: string): Promise<Buffer> {
  if (expectedBytes === undefined) return readUnsized(body);
  const data = Buffer.allocUnsafe(expectedBytes);
  let received = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (received + chunk.length > expectedBytes) {
        throw new ProtocolError(`${what}: the body is longer than its Content-Length ${expectedBytes}`);
      }
      chunk.copy(data, received);
      received += chunk.length;
    }
  } catch (error) {
    body.destroy();
    throw error;
  }
  if (received !== expectedBytes) {
    throw new ProtocolError(`${what}: the body ended after ${received} of ${expectedBytes} bytes`);
  }
  return data;
}

async function readUnsized(body: ResponseBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    total += chunk.length;
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
}

/** At most `maxBytes` of the body as UTF-8 text; the rest is discarded. For error bodies and JSON answers. */
export async function readText(body: ResponseBody, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const room = maxBytes - total;
    chunks.push(chunk.length > room ? chunk.subarray(0, room) : chunk);
    total += Math.min(chunk.length, room);
    if (total >= maxBytes) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks, total).toString('utf8');
}
