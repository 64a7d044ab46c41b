import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAistoreClient, type AistoreClient } from '../../src/store/aistore-client.js';
import { staticParams } from '../../src/store/base-params.js';
import { bindBucket, type BucketClient } from '../../src/store/bucket-client.js';
import { BadRequestError, NotFoundError } from '../../src/store/errors.js';
import type { UploadSource } from '../../src/store/object-store.js';
import { UploadSourceError } from '../../src/store/upload-body.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { useServer } from '../helpers/server.js';

/*
 * The in-memory bucket the filesystem core is tested with must answer writes as the real client does against
 * `bucketfs serve`: the same scenarios, run on both.
 */
function bufferSource(data: Buffer): UploadSource {
  return { sizeBytes: data.length, open: () => (async function* () { yield data.subarray(0, 3); yield data.subarray(3); })() };
}

async function bytesOf(bucket: BucketClient, key: string): Promise<string> {
  return (await bucket.get(key)).data.toString('utf8');
}

const server = useServer({ 'memory/existing': 'old' });
let client: AistoreClient | undefined;

beforeAll(() => {
  client = createAistoreClient({ retry: { maxAttempts: 1 } });
});
afterAll(async () => {
  await client?.close();
});

describe.each(['memory', 'bucketfs serve'] as const)('writes through a BucketClient (%s)', (kind) => {
  let bucket: BucketClient;
  beforeAll(() => {
    if (kind === 'memory') {
      const memory = new MemoryBucket();
      memory.set('existing', 'old');
      bucket = memory;
    } else {
      bucket = bindBucket(client!, { name: 'memory' }, staticParams(server.url));
    }
  });

  it('putFrom stores the source and answers a version', async () => {
    const result = await bucket.putFrom('put/one', bufferSource(Buffer.from('hello world')));
    expect(await bytesOf(bucket, 'put/one')).toBe('hello world');
    expect(result.version).toBe((await bucket.head('put/one')).version);
  });

  it('putFrom of a source that breaks or runs short stores nothing', async () => {
    const breaking: UploadSource = { sizeBytes: 10, open: () => (async function* () { yield Buffer.from('12'); throw new Error('EIO'); })() };
    await expect(bucket.putFrom('put/broken', breaking)).rejects.toBeInstanceOf(UploadSourceError);
    const short: UploadSource = { sizeBytes: 10, open: () => (async function* () { yield Buffer.from('12'); })() };
    await expect(bucket.putFrom('put/short', short)).rejects.toBeInstanceOf(UploadSourceError);
    await expect(bucket.head('put/broken')).rejects.toBeInstanceOf(NotFoundError);
    await expect(bucket.head('put/short')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('appends show nothing until the flush, which places them all', async () => {
    let handle = await bucket.append('appended', undefined, Buffer.from('ab'));
    handle = await bucket.append('appended', handle, Buffer.from('cd'));
    await expect(bucket.head('appended')).rejects.toBeInstanceOf(NotFoundError);
    const result = await bucket.flushAppend('appended', handle);
    expect(await bytesOf(bucket, 'appended')).toBe('abcd');
    expect(result.version).toBe((await bucket.head('appended')).version);
  });

  it('an append started on an existing name starts from its bytes, as AIStore does', async () => {
    const handle = await bucket.append('existing', undefined, Buffer.from('new'));
    await bucket.flushAppend('existing', handle);
    expect(await bytesOf(bucket, 'existing')).toBe('oldnew');
  });

  it('a handle the store does not know is a 400', async () => {
    const failure = await bucket.flushAppend('nothing', { handle: '0123456789abcdef.0' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(BadRequestError);
    expect((failure as BadRequestError).status).toBe(400);
  });

  it('rename moves the bytes, replacing the target; a missing source is a 404', async () => {
    await bucket.putFrom('from', bufferSource(Buffer.from('moved')));
    await bucket.putFrom('to/there', bufferSource(Buffer.from('replaced')));
    await bucket.rename('from', 'to/there');
    expect(await bytesOf(bucket, 'to/there')).toBe('moved');
    await expect(bucket.head('from')).rejects.toBeInstanceOf(NotFoundError);
    const missing = await bucket.rename('never', 'x').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(NotFoundError);
    expect((missing as NotFoundError).status).toBe(404);
  });
});
