import { execFile } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { findMountDevice } from './mountinfo.js';

const run = promisify(execFile);

/** The FUSE connection's folder in fusectl for a `major:minor` device (anonymous devices: major 0). */
export function connectionAbortPath(device: string): string | undefined {
  const match = /^0:(\d+)$/.exec(device);
  return match ? `/sys/fs/fuse/connections/${match[1]}/abort` : undefined;
}

/** The device of the mount at `mountpoint` as listed now; undefined when it is not (or mountinfo is unreadable). */
export async function mountDevice(mountpoint: string): Promise<string | undefined> {
  try {
    return await findMountDevice(mountpoint);
  } catch {
    return undefined;
  }
}

const ANSWER_POLL_MS = 50;

/**
 * Resolves once the kernel answers for `mountpoint`: a child's `stat` sees another device than the parent
 * folder's. Its GETATTR waits for the FUSE handshake, so the kernel has taken the INIT reply by then; resolves
 * false after `timeoutMs` without an answer. Asked by a child: a request from this process to its own mount
 * could leave a thread that a kill -9 cannot end (the kernel waits for an answer only this process could give).
 */
export async function waitUntilKernelAnswers(mountpoint: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const parentDevice = (await stat(dirname(mountpoint))).dev;
  for (;;) {
    const device = await run('stat', ['-c', '%d', mountpoint], { timeout: timeoutMs }).then(
      ({ stdout }) => Number(stdout.trim()),
      () => undefined,
    );
    if (device !== undefined && device !== parentDevice) return true;
    if (Date.now() > deadline) return false;
    await new Promise((done) => setTimeout(done, ANSWER_POLL_MS));
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
