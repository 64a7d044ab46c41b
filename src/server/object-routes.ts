import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { existingBucketDir } from './bucket-dir.js';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, MethodNotAllowedError, NotFoundError, RangeNotSatisfiableError, fromFsError } from './errors.js';
import { objectLocation, objectPropertyHeaders } from './object-props.js';
import { sendFileRange } from './file-body.js';
import { putChecksum } from './put-checksum.js';
import { parseRange } from './range.js';
import { HeldFolders, TEMP_FILE_PREFIX, realPathInside } from './safe-path.js';

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
      return deleteObject(context, routed, address);
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
      response.setHeader('Ais-Location', objectLocation(context.nodeName));
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

const TEMP_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const OBJECT_FILE_MODE = 0o644;

/** The folders above the object, held open from the data folder down (made where missing, below the bucket). */
async function holdParents(dataDir: string, address: ObjectAddress, create: boolean, what: string): Promise<HeldFolders> {
  try {
    return await HeldFolders.open(dataDir, [address.bucket, ...address.segments.slice(0, -1)], create ? 1 : Number.POSITIVE_INFINITY, what);
  } catch (error) {
    throw fromFsError(error, what);
  }
}

/** The object's own name: a symlink there could lead anywhere, so it is neither written through nor replaced. */
async function refuseSymlinkLeaf(path: string, what: string): Promise<void> {
  const stats = await lstat(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fromFsError(error, what);
  });
  if (stats?.isSymbolicLink()) throw new BadRequestError(`${what} is a symlink`);
}

/**
 * Written to a hidden temp file beside the target, then renamed: readers see the old object or the new one. Every
 * step goes through the descriptors of the folders above, so swapping one of them for a symlink during the upload
 * cannot move the write out of the data folder.
 */
async function putObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress, bucketDir: string): Promise<void> {
  const { request, response } = routed;
  const name = objectName(address);
  const what = `object "ais://${address.bucket}/${name}"`;
  if (address.isMarker) throw new BadRequestError(`${what}: names ending in "/" (directory markers) cannot be stored by this server`);
  const dataDir = dirname(bucketDir);
  const leaf = address.segments[address.segments.length - 1] ?? '';
  const temp = `${TEMP_FILE_PREFIX}${randomBytes(8).toString('hex')}`;
  let parents = await holdParents(dataDir, address, true, what);
  try {
    await refuseSymlinkLeaf(parents.pathOf(leaf), what);
    const expectedBytes = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
    let handle;
    try {
      handle = await open(parents.pathOf(temp), TEMP_FILE_FLAGS, OBJECT_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw fromFsError(error, what);
      // A concurrent DELETE removed the just-made (still empty) folder: make it again, once.
      await parents.close();
      parents = await holdParents(dataDir, address, true, what);
      handle = await open(parents.pathOf(temp), TEMP_FILE_FLAGS, OBJECT_FILE_MODE).catch((again: unknown) => {
        throw fromFsError(again, what);
      });
    }
    try {
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
      await rename(parents.pathOf(temp), parents.pathOf(leaf));
    } catch (error) {
      await unlink(parents.pathOf(temp)).catch(() => undefined);
      throw fromFsError(error, what);
    }
  } finally {
    await parents.close();
  }
  // The listing cache goes by the names on disk, not by the descriptors the write went through.
  await context.folders.objectChanged(join(bucketDir, ...address.segments));
  response.writeHead(200, { 'Content-Length': 0 });
  response.end();
}

async function deleteObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const name = objectName(address);
  const what = `object "ais://${address.bucket}/${name}"`;
  if (address.isMarker) throw new NotFoundError(`${what} does not exist`);
  // Same checks as a read: it must be a file, reached without leaving the data folder.
  const opened = await openObject(context, address);
  await opened.handle.close();
  const parents = await holdParents(context.dataDir, address, false, what);
  try {
    // Unlinks the name itself (a symlink, never what it points at), in the folder held open.
    await unlink(parents.pathOf(address.segments[address.segments.length - 1] ?? ''));
    // Folders left empty go too, so a listing shows no phantom directory and a later PUT of the name works.
    await parents.removeEmpty(1);
  } catch (error) {
    throw fromFsError(error, what);
  } finally {
    await parents.close();
  }
  await context.folders.objectChanged(join(context.dataDir, address.bucket, ...address.segments));
  routed.response.writeHead(200, { 'Content-Length': 0 });
  routed.response.end();
}
