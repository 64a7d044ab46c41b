import { join } from 'node:path';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, fromFsError } from './errors.js';
import { holdExistingObject, holdParents, markerRefused, objectWhat, refuseSymlinkLeaf, type ObjectAddress } from './object-files.js';
import { readJsonBody } from './request-body.js';
import { MAX_OBJECT_NAME_BYTES } from './request-limits.js';
import { TEMP_FILE_PREFIX } from './safe-path.js';

/** `POST /v1/objects/<bucket>/<object>` with an action message; only `rename-obj` is served. */
export async function postObject(context: ServerContext, routed: RoutedRequest, address: ObjectAddress): Promise<void> {
  const body = await readJsonBody(routed.request);
  const message = body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  if (message.action !== 'rename-obj') throw new BadRequestError(`unsupported object action ${JSON.stringify(message.action)}: expected "rename-obj"`);
  if (typeof message.name !== 'string' || message.name === '') throw new BadRequestError('rename-obj needs the new object name in "name"');
  return renameObject(context, routed, address, { bucket: address.bucket, segments: nameSegments(message.name), isMarker: false });
}

/** The segments of an object name given in a message (not a path: no percent-escapes), refused as a path would be. */
function nameSegments(name: string): string[] {
  const what = `new object name ${JSON.stringify(name)}`;
  if (Buffer.byteLength(name) > MAX_OBJECT_NAME_BYTES) throw new BadRequestError(`${what} is longer than ${MAX_OBJECT_NAME_BYTES} bytes`);
  if (name.endsWith('/')) throw markerRefused(what);
  const segments = name.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') throw new BadRequestError(`${what}: empty, "." or ".." path segment`);
    if (/[\\\0]/.test(segment)) throw new BadRequestError(`${what}: a path segment contains "\\" or NUL`);
    if (segment.startsWith(TEMP_FILE_PREFIX)) throw new BadRequestError(`${what}: "${TEMP_FILE_PREFIX}*" names are reserved`);
  }
  return segments;
}

/**
 * A rename between the held folders of both names, replacing what the new name held (see `FileReplacer`). The new name's
 * folders are made; the old one's, left empty, go (as after a DELETE). Both folders' listings are read anew.
 */
async function renameObject(context: ServerContext, routed: RoutedRequest, from: ObjectAddress, to: ObjectAddress): Promise<void> {
  const fromWhat = objectWhat(from);
  const toWhat = objectWhat(to);
  const source = await holdExistingObject(context, from, fromWhat);
  try {
    const target = await holdParents(context.dataDir, to, true, toWhat);
    try {
      const toLeaf = to.segments[to.segments.length - 1] ?? '';
      await refuseSymlinkLeaf(target.pathOf(toLeaf), toWhat);
      await context.replacer.replace(source.pathOf(from.segments[from.segments.length - 1] ?? ''), target.pathOf(toLeaf), to.bucket, to.segments);
    } catch (error) {
      // The new name's folders, made for it, must not stay behind as empty directories.
      await target.removeEmpty(1);
      throw fromFsError(error, (error as NodeJS.ErrnoException).code === 'ENOENT' ? fromWhat : toWhat);
    } finally {
      await target.close();
    }
    await source.removeEmpty(1);
  } finally {
    await source.close();
  }
  await context.folders.objectChanged(join(context.dataDir, from.bucket, ...from.segments));
  await context.folders.objectChanged(join(context.dataDir, to.bucket, ...to.segments));
  routed.response.writeHead(200, { 'Content-Length': 0 });
  routed.response.end();
}
