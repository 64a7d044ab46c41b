import type { IncomingMessage } from 'node:http';
import { HttpError, MethodNotAllowedError } from './errors.js';

/** Longest object name, in UTF-8 bytes (S3's and AIStore's practical key limit). */
export const MAX_OBJECT_NAME_BYTES = 1024;
/** Longest request target (path and query); a name at the limit, fully %-escaped, still fits. */
export const MAX_URL_BYTES = 8 * 1024;
/** Largest request body that is not an object: action messages (listing, bucket creation) are small. */
export const MAX_ACTION_BODY_BYTES = 1024 * 1024;

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'POST']);

/**
 * Refuses, before any routing or disk access, what no route serves: an unknown method (405), a target longer
 * than MAX_URL_BYTES (414), and an action body announced larger than MAX_ACTION_BODY_BYTES (413).
 */
export function checkRequestLimits(request: IncomingMessage, url: string): void {
  const method = request.method ?? 'GET';
  if (!KNOWN_METHODS.has(method)) throw new MethodNotAllowedError(method, url.split('?')[0] ?? '');
  if (Buffer.byteLength(url) > MAX_URL_BYTES) {
    throw new HttpError(414, `request target longer than ${MAX_URL_BYTES} bytes`, { tcode: 'ErrURITooLong' });
  }
  if (method !== 'PUT') {
    const announced = Number(request.headers['content-length'] ?? 0);
    if (announced > MAX_ACTION_BODY_BYTES) {
      throw new HttpError(413, `request body of ${announced} bytes is too large for an action message`, { tcode: 'ErrRequestTooLarge', headers: { Connection: 'close' } });
    }
  }
}
