import { Readable } from 'node:stream';
import type { UploadSource } from './object-store.js';

/**
 * The upload's own bytes failed (the source could not be read, or it held more or fewer bytes than it said):
 * not a store failure, so never retried; the caller hears it as it is.
 */
export class UploadSourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UploadSourceError';
  }
}

export function isUploadSource(body: unknown): body is UploadSource {
  return typeof body === 'object' && body !== null && typeof (body as UploadSource).open === 'function' && typeof (body as UploadSource).sizeBytes === 'number';
}

/**
 * One attempt's body: the source opened afresh and streamed (with backpressure, so at most a few chunks are in
 * memory), its byte count checked against `sizeBytes`. A failure of the source is kept in `failure`, since the
 * HTTP client reports it as a broken request, which alone would look like a network fault worth retrying.
 */
export class UploadBody {
  failure: UploadSourceError | undefined;

  constructor(
    private readonly source: UploadSource,
    private readonly what: string,
  ) {}

  get sizeBytes(): number {
    return this.source.sizeBytes;
  }

  stream(): Readable {
    return Readable.from(this.chunks(), { objectMode: false });
  }

  private async *chunks(): AsyncGenerator<Buffer> {
    const expected = this.source.sizeBytes;
    let sentBytes = 0;
    let opened: AsyncIterable<Uint8Array | string>;
    try {
      opened = this.source.open() as AsyncIterable<Uint8Array | string>;
    } catch (error) {
      throw this.fail(`cannot open the bytes to upload: ${describe(error)}`, error);
    }
    const iterator = opened[Symbol.asyncIterator]();
    try {
      for (;;) {
        let step: IteratorResult<Uint8Array | string>;
        try {
          step = await iterator.next();
        } catch (error) {
          throw this.fail(`reading the bytes to upload failed after ${sentBytes} of ${expected}: ${describe(error)}`, error);
        }
        if (step.done) break;
        const chunk = typeof step.value === 'string' ? Buffer.from(step.value) : Buffer.from(step.value.buffer, step.value.byteOffset, step.value.byteLength);
        sentBytes += chunk.length;
        if (sentBytes > expected) throw this.fail(`the bytes to upload run past their size of ${expected}`);
        yield chunk;
      }
    } finally {
      await iterator.return?.();
    }
    if (sentBytes !== expected) throw this.fail(`the bytes to upload ended after ${sentBytes} of ${expected}`);
  }

  private fail(reason: string, cause?: unknown): UploadSourceError {
    this.failure = new UploadSourceError(`${this.what}: ${reason}`, cause === undefined ? undefined : { cause });
    return this.failure;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
