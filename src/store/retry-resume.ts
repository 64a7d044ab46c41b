import { ConflictError, NetworkError, ProtocolError } from './errors.js';
import type { ResponseBody } from './http-transport.js';

/** What a body read got: all of it, or the bytes before it broke off and why; as the chunks that arrived. */
export type BodyRead =
  | { readonly complete: true; readonly chunks: readonly Buffer[]; readonly bytes: number }
  | { readonly complete: false; readonly chunks: readonly Buffer[]; readonly bytes: number; readonly error: unknown };

/**
 * Reads a body, keeping what arrived when it breaks off, so a GET can continue from that byte. A body shorter
 * than its `Content-Length` counts as broken off (the connection ended early), not as a protocol fault.
 */
export async function readBodyKeepingPrefix(body: ResponseBody, expectedBytes: number | undefined, what: string): Promise<BodyRead> {
  const { chunks, bytes, error } = await body.received;
  if (expectedBytes !== undefined && bytes > expectedBytes) {
    throw new ProtocolError(`${what}: the body is longer than its Content-Length ${expectedBytes}`);
  }
  if (error !== undefined) return { complete: false, chunks, bytes, error };
  if (expectedBytes !== undefined && bytes !== expectedBytes) {
    return { complete: false, chunks, bytes, error: new NetworkError(`${what}: the body ended after ${bytes} of ${expectedBytes} bytes`) };
  }
  return { complete: true, chunks, bytes };
}

/** The object a GET started reading; a continuation must be of the very same one. */
export interface ObjectIdentity {
  readonly version: string | undefined;
  readonly objectSize: number;
}

/**
 * Refuses to join bytes of two versions. Without `Ais-Version` on either answer only the sizes can be compared,
 * which is the best such a server allows.
 */
export function assertSameObject(first: ObjectIdentity, next: ObjectIdentity, what: string): void {
  if (first.version !== next.version || first.objectSize !== next.objectSize) {
    throw new ConflictError(
      `${what}: the object changed while being read (version ${first.version ?? '?'} → ${next.version ?? '?'}, ` +
        `size ${first.objectSize} → ${next.objectSize}); not mixing versions`,
      { status: 200 },
    );
  }
}
