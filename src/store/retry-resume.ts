import { ConflictError, NetworkError, ProtocolError } from './errors.js';
import type { ResponseBody } from './http-transport.js';

/** What a body read got: all of it, or the bytes before it broke off and why. */
export type BodyRead =
  | { readonly complete: true; readonly data: Buffer }
  | { readonly complete: false; readonly data: Buffer; readonly error: unknown };

/**
 * Reads a body, keeping what arrived when it breaks off, so a GET can continue from that byte. A body shorter
 * than its `Content-Length` counts as broken off (the connection ended early), not as a protocol fault.
 */
export async function readBodyKeepingPrefix(body: ResponseBody, expectedBytes: number | undefined, what: string): Promise<BodyRead> {
  // With a known length the bytes go into one buffer allocated up front: no chunk list, no final concat.
  const sized = expectedBytes === undefined ? undefined : Buffer.allocUnsafe(expectedBytes);
  const chunks: Buffer[] = [];
  let received = 0;
  const prefix = (): Buffer => (sized ? sized.subarray(0, received) : Buffer.concat(chunks, received));
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (sized) {
        if (received + chunk.length > sized.length) {
          body.destroy();
          throw new ProtocolError(`${what}: the body is longer than its Content-Length ${sized.length}`);
        }
        chunk.copy(sized, received);
      } else {
        chunks.push(chunk);
      }
      received += chunk.length;
    }
  } catch (error) {
    body.destroy();
    if (error instanceof ProtocolError) throw error;
    return { complete: false, data: prefix(), error };
  }
  if (sized && received !== sized.length) {
    return { complete: false, data: prefix(), error: new NetworkError(`${what}: the body ended after ${received} of ${sized.length} bytes`) };
  }
  return { complete: true, data: prefix() };
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
