import { realpath } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { BadRequestError } from './errors.js';

/**
 * Prefix of the hidden temporary file an in-progress PUT writes beside its target. Such names are never listed,
 * served or accepted as object names.
 */
export const TEMP_FILE_PREFIX = '.bucketfs-put-';

/** Raw (still escaped) bytes that have no business in a path segment, before or after decoding. */
const FORBIDDEN_ESCAPES = /%(2f|5c|00)/i;

/**
 * Decodes one raw path segment exactly once and refuses what could step out of its folder or name something the
 * filesystem cannot hold: `.`, `..`, empty, `/` `\` or NUL (raw or escaped), malformed escapes, temp-file names.
 */
export function decodeSegment(raw: string, what: string): string {
  if (raw.includes('\\') || FORBIDDEN_ESCAPES.test(raw)) throw new BadRequestError(`${what}: a path segment contains an escaped "/", "\\" or NUL`);
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new BadRequestError(`${what}: malformed percent-escape in "${raw}"`);
  }
  if (decoded === '' || decoded === '.' || decoded === '..') throw new BadRequestError(`${what}: empty, "." or ".." path segment`);
  if (/[/\\\0]/.test(decoded)) throw new BadRequestError(`${what}: a path segment contains "/", "\\" or NUL`);
  if (decoded.startsWith(TEMP_FILE_PREFIX)) throw new BadRequestError(`${what}: "${TEMP_FILE_PREFIX}*" names are reserved`);
  return decoded;
}

/** A bucket is a top-level folder; hidden folders are not buckets. */
export function decodeBucketName(raw: string): string {
  const name = decodeSegment(raw, 'bucket name');
  if (name.startsWith('.')) throw new BadRequestError(`bucket name "${name}" may not start with "."`);
  return name;
}

export function isInside(root: string, path: string): boolean {
  return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * The real path of `relative` under `root` (a realpath itself), refusing with 400 when a symlink leads outside.
 * Rejects with the fs error (ENOENT …) when the path does not exist.
 */
export async function realPathInside(root: string, relative: readonly string[], what: string): Promise<string> {
  const real = await realpath(join(root, ...relative));
  if (!isInside(root, real)) throw new BadRequestError(`${what} resolves outside the data folder`);
  return real;
}
