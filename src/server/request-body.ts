import type { IncomingMessage } from 'node:http';
import { BadRequestError, HttpError } from './errors.js';
import { MAX_ACTION_BODY_BYTES } from './request-limits.js';

/** The request's JSON body, or undefined when it has none. Action messages are small: over 1 MiB is refused. */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let totalBytes = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    totalBytes += chunk.length;
    if (totalBytes > MAX_ACTION_BODY_BYTES) {
      // The rest is not worth reading: the connection closes after the answer.
      throw new HttpError(413, 'the request body is too large for an action message', { tcode: 'ErrRequestTooLarge', headers: { Connection: 'close' } });
    }
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new BadRequestError('the request body is not valid JSON');
  }
}
