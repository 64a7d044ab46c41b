import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

function contentLengthOf(headers: unknown, response: ServerResponse): number {
  let value: unknown = response.getHeader('content-length');
  if (headers !== null && typeof headers === 'object') {
    for (const [name, headerValue] of Object.entries(headers as OutgoingHttpHeaders)) {
      if (name.toLowerCase() === 'content-length') value = headerValue;
    }
  }
  const length = Number(value);
  return Number.isFinite(length) ? length : 0;
}

type WriteHead = (...args: unknown[]) => ServerResponse;
type Write = (chunk: unknown, ...rest: unknown[]) => boolean;
type End = (...args: unknown[]) => ServerResponse;

/**
 * Lets the response start, then drops the connection once a part (`cutFraction`) of the body has gone out.
 * A response without a body to cut (HEAD, empty object, error of a HEAD) is dropped before its headers.
 */
export function resetMidBody(request: IncomingMessage, response: ServerResponse, cutFraction: number): void {
  const socket = request.socket;
  // Writes after the drop fail; the handler's own error path logs them, nothing else should hear.
  response.on('error', () => undefined);
  const writeHead = response.writeHead.bind(response) as WriteHead;
  const write = response.write.bind(response) as Write;
  let cutAtBytes = 0;
  let sentBytes = 0;
  let cut = false;
  const drop = (): void => {
    cut = true;
    socket.destroy();
  };
  /** Writes what comes before the cut point; at the cut, hands that part to the kernel, then drops. */
  const pass = (chunk: unknown, encoding: unknown, callback: (() => void) | undefined): boolean => {
    if (cut) return false;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array);
    if (sentBytes + bytes.length < cutAtBytes) {
      sentBytes += bytes.length;
      return callback ? write(bytes, callback) : write(bytes);
    }
    cut = true;
    write(bytes.subarray(0, cutAtBytes - sentBytes), () => drop());
    return false;
  };
  (response as unknown as { writeHead: WriteHead }).writeHead = (...args: unknown[]) => {
    const length = request.method === 'HEAD' ? 0 : contentLengthOf(args.find((arg) => typeof arg === 'object'), response);
    if (length < 2) {
      drop();
      return response;
    }
    cutAtBytes = 1 + Math.floor(cutFraction * (length - 2));
    return writeHead(...args);
  };
  (response as unknown as { write: Write }).write = (chunk: unknown, ...rest: unknown[]) => {
    if (!response.headersSent && !cut) response.writeHead(response.statusCode);
    const encoding = typeof rest[0] === 'string' ? rest[0] : undefined;
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    return pass(chunk, encoding, callback);
  };
  (response as unknown as { end: End }).end = (...args: unknown[]) => {
    if (!response.headersSent && !cut) response.writeHead(response.statusCode);
    const chunk = args[0];
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') pass(chunk, typeof args[1] === 'string' ? args[1] : undefined, undefined);
    // A body shorter than announced never reached the cut point: drop at its end instead.
    if (!cut) drop();
    return response;
  };
}
