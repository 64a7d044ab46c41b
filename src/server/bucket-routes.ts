import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { existingBucketDir } from './bucket-dir.js';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, ConflictError, MethodNotAllowedError, headerSafeJson } from './errors.js';
import { parseListMessage } from './list-message.js';
import { listObjectsPage } from './list-objects.js';
import { readJsonBody } from './request-body.js';

function sendJson(routed: RoutedRequest, value: unknown): void {
  const text = JSON.stringify(value);
  routed.response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  routed.response.end(text);
}

/** `GET /v1/buckets`: every top-level folder of DIR (hidden ones excepted), sorted. */
export async function handleBucketList(context: ServerContext, routed: RoutedRequest): Promise<void> {
  if (routed.method !== 'GET') throw new MethodNotAllowedError(routed.method, routed.rawPath);
  await readJsonBody(routed.request);
  const dirents = await readdir(context.dataDir, { withFileTypes: true });
  const names = dirents.filter((dirent) => dirent.isDirectory() && !dirent.name.startsWith('.')).map((dirent) => dirent.name).sort();
  sendJson(routed, names.map((name) => ({ name, provider: 'ais', namespace: { uuid: '', name: '' } })));
}

/** `/v1/buckets/<bucket>`: GET lists objects, HEAD answers properties, POST creates. */
export async function handleBucket(context: ServerContext, routed: RoutedRequest, bucket: string): Promise<void> {
  switch (routed.method) {
    case 'GET': {
      const bucketDir = await existingBucketDir(context.dataDir, bucket);
      const listRequest = parseListMessage(await readJsonBody(routed.request));
      sendJson(routed, await listObjectsPage(context, bucketDir, listRequest));
      return;
    }
    case 'HEAD': {
      await existingBucketDir(context.dataDir, bucket);
      const props = { provider: 'ais', namespace: { uuid: '', name: '' }, versioning: { enabled: true }, checksum: { type: 'none' } };
      routed.response.writeHead(200, { 'Ais-Bucket-Props': headerSafeJson(props) });
      routed.response.end();
      return;
    }
    case 'POST':
      return createBucket(context, routed, bucket);
    default:
      throw new MethodNotAllowedError(routed.method, routed.rawPath);
  }
}

async function createBucket(context: ServerContext, routed: RoutedRequest, bucket: string): Promise<void> {
  const body = await readJsonBody(routed.request);
  const action = body !== null && typeof body === 'object' ? (body as Record<string, unknown>).action : undefined;
  if (action !== 'create-bck') throw new BadRequestError(`unsupported bucket action ${JSON.stringify(action)}`);
  try {
    await mkdir(join(context.dataDir, bucket));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`bucket "ais://${bucket}" already exists`);
    throw error;
  }
  routed.response.writeHead(200, { 'Content-Length': 0 });
  routed.response.end();
}
