import { writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { findMountDevice } from './mountinfo.js';

/**
 * The kernel reads ahead of a buffered reader by at most the mount's bdi `read_ahead_kb` (128 KiB
 * for FUSE by default), one FUSE request of 128 KiB at a time. Raising it (root only, as gcsfuse
 * does) lets the kernel keep several requests in flight, so a single `dd` or `cat` streams faster.
 * See README's performance section for the measurement behind the default.
 */
export const DEFAULT_READ_AHEAD_KB = 1024;

export function readAheadPath(device: string): string {
  return `/sys/class/bdi/${device}/read_ahead_kb`;
}

/**
 * Sets the mount's bdi `read_ahead_kb`. Found through mountinfo rather than a `stat` of the
 * mountpoint: a request from this process to its own mount could block the thread that must
 * answer it. Not root, or no sysfs: the kernel's default stays, with a debug line, never an error.
 * Only after the FUSE handshake: the kernel caps the read-ahead when it takes the INIT reply.
 */
export async function setMountReadAheadKb(mountpoint: string, readAheadKb: number, logger: Logger): Promise<boolean> {
  try {
    const device = await findMountDevice(mountpoint);
    if (device === undefined) {
      logger.debug({ mountpoint }, 'mount not found in mountinfo; read_ahead_kb left as is');
      return false;
    }
    await writeFile(readAheadPath(device), `${readAheadKb}\n`);
    logger.debug({ mountpoint, device, readAheadKb }, 'set the mount read-ahead');
    return true;
  } catch (error) {
    logger.debug({ mountpoint, err: error instanceof Error ? error.message : String(error) }, 'cannot set read_ahead_kb (needs root); the kernel default stays');
    return false;
  }
}
