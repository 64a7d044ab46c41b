import { join } from 'node:path';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, fromFsError } from './errors.js';
import { holdParents, markerRefused, objectName, objectWhat, openObject, refuseSymlinkLeaf, type ObjectAddress } from './object-files.js';
import { objectVersion } from './object-props.js';
import { putChecksum } from './put-checksum.js';
import { receiveInto } from './receive-body.js';
import { appendHandleText, type WorkFile } from './work-files.js';

const COPY_BLOCK_BYTES = 1024 * 1024;

function describe(address: ObjectAddress): { name: string; what: string } {
  const name = objectName(address);
  const what = objectWhat(address);
  if (address.isMarker) throw markerRefused(what);
  return { name, what };
}

/**
 * `PUT ?append_type=append&append_handle=H`: the body goes into the work file H names, at the point H stands for
 * (a chunk sent again from an older handle replaces what it sent before). An empty H starts a work file, from a
 * copy of the object when it exists, as AIStore does. Answers the next handle in `Ais-Append-Handle`.
 */
export async function appendObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const { request, response, query } = routed;
  const { name, what } = describe(address);
  let handleText = query.get('append_handle') ?? '';
  if (handleText === '') {
    const file = await context.workFiles.create(address.bucket, name).catch((error: unknown) => {
      throw fromFsError(error, what);
    });
    await copyExisting(context, address, file);
    handleText = appendHandleText(file);
  }
  const expectedBytes = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
  const next = await context.workFiles.use(address.bucket, name, handleText, async (file, offset) => {
    if (offset < file.sizeBytes) await cutBack(file, offset);
    try {
      const received = await receiveInto(request, file.handle, offset);
      if (expectedBytes !== undefined && received !== expectedBytes) throw new BadRequestError(`${what}: received ${received} of ${expectedBytes} bytes`);
      file.sizeBytes = offset + received;
    } catch (error) {
      // Whatever part of the chunk arrived is dropped: the handle the client holds still stands for `offset`.
      await cutBack(file, offset);
      throw fromFsError(error, what);
    }
    return appendHandleText(file);
  });
  response.writeHead(200, { 'Ais-Append-Handle': next, 'Content-Length': 0 });
  response.end();
}

/**
 * `PUT ?append_type=flush&append_handle=H`: the work file, cut to what H stands for and checked against a declared
 * checksum, is renamed over the object; readers see the old object or the whole new one. A flush sent again after
 * it succeeded is answered as the first was.
 */
export async function flushObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress, dataDir: string): Promise<void> {
  const { request, response, query } = routed;
  const { name, what } = describe(address);
  const handleText = query.get('append_handle') ?? '';
  if (handleText === '') throw new BadRequestError(`${what}: a flush needs the append_handle of the appends it completes`);
  let version = context.workFiles.flushedVersion(address.bucket, name, handleText);
  if (version === undefined) {
    version = await context.workFiles.use(address.bucket, name, handleText, async (file, offset) => {
      if (offset < file.sizeBytes) await cutBack(file, offset);
      await verifyChecksum(request.headers, file, what);
      const leaf = address.segments[address.segments.length - 1] ?? '';
      const parents = await holdParents(dataDir, address, true, what);
      try {
        await refuseSymlinkLeaf(parents.pathOf(leaf), what);
        const work = await context.workFiles.holdWorkFolder(address.bucket, false);
        try {
          await context.replacer.replace(work.pathOf(file.id), parents.pathOf(leaf), address.bucket, address.segments);
        } finally {
          await work.close();
        }
      } catch (error) {
        throw fromFsError(error, what);
      } finally {
        await parents.close();
      }
      const placed = objectVersion(await file.handle.stat({ bigint: true }));
      await context.workFiles.flushedAs(file, placed);
      return placed;
    });
    await context.folders.objectChanged(join(dataDir, address.bucket, ...address.segments));
  }
  request.resume();
  response.writeHead(200, { 'Ais-Version': version, 'Content-Length': 0 });
  response.end();
}

/** The work file back to `sizeBytes`. */
async function cutBack(file: WorkFile, sizeBytes: number): Promise<void> {
  await file.handle.truncate(sizeBytes);
  file.sizeBytes = sizeBytes;
}

/** A first append to a name that exists starts from its bytes (AIStore's `apndOI`). */
async function copyExisting(context: ServerContext, address: ObjectAddress, file: WorkFile): Promise<void> {
  let existing;
  try {
    existing = await openObject(context, address);
  } catch {
    return;
  }
  try {
    const block = Buffer.allocUnsafe(COPY_BLOCK_BYTES);
    for (;;) {
      const { bytesRead } = await existing.handle.read(block, 0, block.length, file.sizeBytes);
      if (bytesRead === 0) break;
      await file.handle.write(block, 0, bytesRead, file.sizeBytes);
      file.sizeBytes += bytesRead;
    }
  } finally {
    await existing.handle.close();
  }
}

/** A checksum the flush declares, against the work file read back; most flushes declare none and pay nothing. */
async function verifyChecksum(headers: RoutedRequest['request']['headers'], file: WorkFile, what: string): Promise<void> {
  const checksum = putChecksum(headers, what);
  if (checksum === undefined) return;
  const block = Buffer.allocUnsafe(COPY_BLOCK_BYTES);
  for (let position = 0; position < file.sizeBytes; ) {
    const { bytesRead } = await file.handle.read(block, 0, Math.min(block.length, file.sizeBytes - position), position);
    if (bytesRead === 0) break;
    checksum.update(block.subarray(0, bytesRead));
    position += bytesRead;
  }
  checksum.verify();
}
