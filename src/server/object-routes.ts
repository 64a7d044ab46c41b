import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { existingBucketDir } from './bucket-dir.js';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, MethodNotAllowedError, RangeNotSatisfiableError, fromFsError } from './errors.js';
import { objectLocation, objectPropertyHeaders, objectVersion } from './object-props.js';
import { receiveInto, sameBytes } from './receive-body.js';
import { sendFileRange } from './file-body.js';
import { putChecksum } from './put-checksum.js';
import { parseRange } from './range.js';
import { HeldFolders, TEMP_FILE_PREFIX } from './safe-path.js';
import { appendObject, flushObject } from './append-routes.js';
import { postObject } from './rename-route.js';
import { holdExistingObject, holdParents, markerRefused, objectWhat, openObject, refuseSymlinkLeaf, type ObjectAddress } from './object-files.js';

export type { ObjectAddress } from './object-files.js';

export async function handleObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const bucketDir = await existingBucketDir(context.dataDir, address.bucket);
  switch (routed.method) {
    case 'GET':
    case 'HEAD':
      return readObject(context, routed, address);
    case 'PUT':
      return putKind(context, routed, address, bucketDir);
    case 'POST':
      return postObject(context, routed, address);
    case 'DELETE':
      return deleteObject(context, routed, address);
    default:
      throw new MethodNotAllowedError(routed.method, routed.rawPath);
  }
}

/** A plain PUT, or one step of AIStore's append API (`append_type`). */
function putKind(context: ServerContext, routed: RoutedRequest, address: ObjectAddress, bucketDir: string): Promise<void> {
  const appendType = routed.query.get('append_type');
  switch (appendType) {
    case null:
    case '':
      return putObject(context, routed, address, bucketDir);
    case 'append':
      return appendObject(context, routed, address);
    case 'flush':
      return flushObject(context, routed, address, dirname(bucketDir));
    default:
      throw new BadRequestError(`unknown append_type ${JSON.stringify(appendType)}: expected "append" or "flush"`);
  }
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

// Read as well: a PUT of the bytes already in place compares the two.
const TEMP_FILE_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const OBJECT_FILE_MODE = 0o644;

/**
 * Written to a hidden temp file beside the target, then renamed: readers see the old object or the new one. Every
 * step goes through the descriptors of the folders above, so swapping one of them for a symlink during the upload
 * cannot move the write out of the data folder.
 */
async function putObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress, bucketDir: string): Promise<void> {
  const { request, response } = routed;
  const what = objectWhat(address);
  if (address.isMarker) throw markerRefused(what);
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
    let version: string;
    try {
      const checksum = putChecksum(request.headers, what);
      const receivedBytes = await receiveInto(request, handle, 0, (chunk) => checksum?.update(chunk));
      if (expectedBytes !== undefined && receivedBytes !== expectedBytes) {
        throw new BadRequestError(`${what}: received ${receivedBytes} of ${expectedBytes} bytes`);
      }
      checksum?.verify();
      version = await placeFile(context, address, parents, temp, handle, receivedBytes);
    } catch (error) {
      await unlink(parents.pathOf(temp)).catch(() => undefined);
      throw fromFsError(error, what);
    } finally {
      await handle.close();
    }
    response.setHeader('Ais-Version', version);
  } finally {
    await parents.close();
  }
  // The listing cache goes by the names on disk, not by the descriptors the write went through.
  await context.folders.objectChanged(join(bucketDir, ...address.segments));
  response.writeHead(200, { 'Content-Length': 0 });
  response.end();
}

/**
 * Renames the finished temp file over `leaf`, unless `leaf` already holds exactly these bytes (a PUT sent again
 * after its answer was lost): then the object, and its version, stay as they are. Answers the version now in place.
 */
async function placeFile(context: ServerContext, address: ObjectAddress, parents: HeldFolders, temp: string, written: FileHandle, sizeBytes: number): Promise<string> {
  const leaf = address.segments[address.segments.length - 1] ?? '';
  const existing = await open(parents.pathOf(leaf), constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (existing !== undefined) {
    try {
      const stats = await existing.stat({ bigint: true });
      if (stats.isFile() && Number(stats.size) === sizeBytes && (await sameBytes(existing, written, sizeBytes))) {
        await unlink(parents.pathOf(temp));
        return objectVersion(stats);
      }
    } finally {
      await existing.close();
    }
  }
  await context.replacer.replace(parents.pathOf(temp), parents.pathOf(leaf), address.bucket, address.segments);
  // The descriptor still names the renamed inode: its version, whatever a concurrent PUT does to the name.
  return objectVersion(await written.stat({ bigint: true }));
}

async function deleteObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const what = objectWhat(address);
  const parents = await holdExistingObject(context, address, what);
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
