import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from './errors.js';

/** The bucket's folder, or a 404 naming the bucket. A bucket is a real folder directly in DIR (no symlink). */
export async function existingBucketDir(dataDir: string, bucket: string): Promise<string> {
  const dir = join(dataDir, bucket);
  try {
    const stats = await lstat(dir);
    if (stats.isDirectory()) return dir;
  } catch {
    // fall through to 404
  }
  throw new NotFoundError(`bucket "ais://${bucket}" does not exist`);
}
