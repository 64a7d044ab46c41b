import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { findMountDevice } from './readahead.js';

const run = promisify(execFile);

/** The FUSE connection's folder in fusectl for a `major:minor` device (anonymous devices: major 0). */
export function connectionAbortPath(device: string): string | undefined {
  const match = /^0:(\d+)$/.exec(device);
  return match ? `/sys/fs/fuse/connections/${match[1]}/abort` : undefined;
}

/** The device of the mount at `mountpoint` as listed now; undefined when it is not (or mountinfo is unreadable). */
export async function mountDevice(mountpoint: string): Promise<string | undefined> {
  try {
    return await findMountDevice(mountpoint, 0);
  } catch {
    return undefined;
  }
}

/** Detaches the mount (fusermount3 -uz); the kernel ends the connection once no file is open on it. */
export async function lazyUnmount(mountpoint: string): Promise<void> {
  await run('fusermount3', ['-uz', mountpoint], { timeout: 10_000 });
}

/** Ends a FUSE connection at once (fusectl, root only): every waiting request fails. Returns whether it could. */
export async function abortConnection(device: string): Promise<boolean> {
  const path = connectionAbortPath(device);
  if (path === undefined) return false;
  try {
    await writeFile(path, '1\n');
    return true;
  } catch {
    return false;
  }
}
