import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rmdir, unlink } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { existingBucketDir } from './bucket-dir.js';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, MethodNotAllowedError, NotFoundError, RangeNotSatisfiableError, fromFsError } from './errors.js';
import { objectPropertyHeaders } from './object-props.js';
import { sendFileRange } from './file-body.js';
import { putChecksum } from './put-checksum.js';
import { parseRange } from './range.js';
import { TEMP_FILE_PREFIX, isInside, realPathInside } from './safe-path.js';

/** A decoded object address: bucket plus the object name's segments. */
export interface ObjectAddress {
  readonly bucket: string;
  readonly segments: readonly string[];
  /** True when the raw name ended in `/` (a directory marker, which this server cannot store). */
  readonly isMarker: boolean;
}

function objectName(address: ObjectAddress): string {
  return address.segments.join('/') + (address.isMarker ? '/' : '');
}

export async function handleObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const bucketDir = await existingBucketDir(context.dataDir, address.bucket);
  switch (routed.method) {
    case 'GET':
    case 'HEAD':
      return readObject(context, routed, address);
    case 'PUT':
      return putObject(context, routed, address, bucketDir);
    case 'DELETE':
      return deleteObject(context, routed, address, bucketDir);
    default:
      throw new MethodNotAllowedError(routed.method, routed.rawPath);
  }
}

async function openObject(context: ServerContext, address: ObjectAddress) {
  const name = objectName(address);
  // A `name/` marker cannot be a file here: it simply does not exist.
  if (address.isMarker) throw new NotFoundError(`object "ais://${address.bucket}/${name}" does not exist`);
  const what = `object "ais://${address.bucket}/${name}"`;
  let handle;
  try {
    const real = await realPathInside(context.dataDir, [address.bucket, ...address.segments], what);
    handle = await open(real, 'r');
  } catch (error) {
    // A missing name behind a symlink that leads outside is refused as such, not reported absent.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') await assertParentsInside(context.dataDir, address.bucket, address.segments, what);
    throw fromFsError(error, what);
  }
  // Stats and bytes come from the same descriptor: a concurrent PUT renames a new inode in, this one stays whole.
  const stats = await handle.stat({ bigint: true });
  if (!stats.isFile()) {
    await handle.close();
    throw new NotFoundError(`${what} does not exist`);
  }
  return { handle, stats, name };
}

async function readObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const { request, response, query } = routed;
  const { handle, stats, name } = await openObject(context, address);
  const sizeBytes = Number(stats.size);
  if (routed.method === 'HEAD') {
    await handle.close();
    const presenceOnly = query.get('presence') === '1' || query.get('presence') === '3';
    if (!presenceOnly) {
      response.setHeader('Ais-Name', rawUtf8(name));
      response.setHeader('Ais-Bucket-Name', rawUtf8(address.bucket));
      response.setHeader('Ais-Bucket-Provider', 'ais');
      response.setHeader('Ais-Location', `t[${context.nodeName}]:mp[${context.dataDir}]`);
      response.setHeader('Ais-Present', 'true');
      for (const [header, value] of Object.entries(objectPropertyHeaders(stats))) response.setHeader(header, value);
      // AIStore's HEAD omits Content-Length for a 0-byte object.
      if (sizeBytes > 0) response.setHeader('Content-Length', sizeBytes);
    }
    response.writeHead(200);
    response.end();
    return;
  }
  const range = parseRange(headerText(request.headers.range), sizeBytes);
  if (range.kind === 'unsatisfiable') {
    await handle.close();
    throw new RangeNotSatisfiableError(range.reason, sizeBytes);
  }
  const headers: Record<string, string | number> = { ...objectPropertyHeaders(stats), 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
  if (sizeBytes === 0) {
    await handle.close();
    response.writeHead(200, { ...headers, 'Content-Length': 0 });
    response.end();
    return;
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : sizeBytes - 1;
  if (range.kind === 'partial') headers['Content-Range'] = `bytes ${start}-${end}/${sizeBytes}`;
  headers['Content-Length'] = end - start + 1;
  response.writeHead(range.kind === 'partial' ? 206 : 200, headers);
  try {
    await sendFileRange(handle, start, end, response);
  } catch (error) {
    // The client went away mid-body (or the disk failed): nothing more can be said on this response.
    response.destroy();
    context.logger.debug({ err: error, object: name }, 'GET stream ended early');
  } finally {
    await handle.close();
  }
}

/** Node writes header strings as Latin-1; this puts the name's UTF-8 bytes on the wire, as Go's server does. */
function rawUtf8(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/** The deepest existing ancestor of the object's path (bucket folder included) must resolve inside the data folder. */
async function assertParentsInside(dataDir: string, bucket: string, segments: readonly string[], what: string): Promise<void> {
  for (let depth = segments.length - 1; depth >= 0; depth -= 1) {
    try {
      await realPathInside(dataDir, [bucket, ...segments.slice(0, depth)], what);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(error, what);
    }
  }
}

/** A concurrent DELETE may remove the just-created (still empty) parent folder: recreate it once. */
async function openTempFile(parent: string, temp: string) {
  try {
    return await open(temp, 'wx');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(parent, { recursive: true });
    return open(temp, 'wx');
  }
}

/** Written to a hidden temp file beside the target, then renamed: readers see the old object or the new one. */
async function putObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress, bucketDir: string): Promise<void> {
  const { request, response } = routed;
  const name = objectName(address);
  const what = `object "ais://${address.bucket}/${name}"`;
  if (address.isMarker) throw new BadRequestError(`${what}: names ending in "/" (directory markers) cannot be stored by this server`);
  const dataDir = dirname(bucketDir);
  await assertParentsInside(dataDir, address.bucket, address.segments, what);
  const target = join(bucketDir, ...address.segments);
  // Replacing a symlink that leads outside would be harmless (rename replaces the link), but it is refused alike.
  await realPathInside(dataDir, [address.bucket, ...address.segments], what).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(error, what);
  });
  const parent = dirname(target);
  try {
    await mkdir(parent, { recursive: true });
  } catch (error) {
    throw fromFsError(error, what);
  }
  await assertParentsInside(dataDir, address.bucket, address.segments, what);
  const temp = join(parent, `${TEMP_FILE_PREFIX}${randomBytes(8).toString('hex')}`);
  const expectedBytes = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
  try {
    const handle = await openTempFile(parent, temp);
    let receivedBytes = 0;
    const checksum = putChecksum(request.headers, what);
    request.on('data', (chunk: Buffer) => {
      receivedBytes += chunk.length;
      checksum?.update(chunk);
    });
    await pipeline(request, handle.createWriteStream());
    if (expectedBytes !== undefined && receivedBytes !== expectedBytes) {
      throw new BadRequestError(`${what}: received ${receivedBytes} of ${expectedBytes} bytes`);
    }
    checksum?.verify();
    await rename(temp, target);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw fromFsError(error, what);
  }
  await context.folders.objectChanged(target);
  response.writeHead(200, { 'Content-Length': 0 });
  response.end();
}

async function deleteObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress, bucketDir: string): Promise<void> {
  const name = objectName(address);
  const what = `object "ais://${address.bucket}/${name}"`;
  if (address.isMarker) throw new NotFoundError(`${what} does not exist`);
  // Same checks as a read: it must be a file, reached without leaving the data folder.
  const opened = await openObject(context, address);
  await opened.handle.close();
  const target = join(bucketDir, ...address.segments);
  try {
    // Unlinks the name itself (a symlink, never what it points at).
    await unlink(target);
  } catch (error) {
    throw fromFsError(error, what);
  }
  await removeEmptyParents(bucketDir, dirname(target));
  await context.folders.objectChanged(target);
  routed.response.writeHead(200, { 'Content-Length': 0 });
  routed.response.end();
}

/** Folders left empty by a DELETE go too, so a listing shows no phantom directory and a later PUT of the name works. */
async function removeEmptyParents(bucketDir: string, folder: string): Promise<void> {
  let current = folder;
  while (current !== bucketDir && isInside(bucketDir, current) && basename(current) !== '' && current.includes(sep)) {
    try {
      await rmdir(current);
    } catch {
      return;
    }
    current = dirname(current);
  }
}
