import { readFile, writeFile } from 'node:fs/promises';
import type { Logger } from 'pino';

/**
 * The kernel reads ahead of a buffered reader by at most the mount's bdi `read_ahead_kb` (128 KiB
 * for FUSE by default), one FUSE request of 128 KiB at a time. Raising it (root only, as gcsfuse
 * does) lets the kernel keep several requests in flight, so a single `dd` or `cat` streams faster.
 * See README's performance section for the measurement behind the default.
 */
export const DEFAULT_READ_AHEAD_KB = 1024;

/**
 * The `major:minor` device of the filesystem mounted at `mountpoint`, from `/proc/self/mountinfo`
 * text; the last match wins (the newest mount hides older ones). Pure, for tests.
 */
export function deviceOfMountpoint(mountinfo: string, mountpoint: string): string | undefined {
  let device: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const [, , majorMinor, , where] = fields;
    if (majorMinor === undefined || where === undefined) continue;
    if (unescapeMountinfo(where) === mountpoint && /^\d+:\d+$/.test(majorMinor)) device = majorMinor;
  }
  return device;
}

/** mountinfo escapes space, tab, newline and backslash as octal (`\040`). */
function unescapeMountinfo(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The device of the mount at `mountpoint` from `/proc/self/mountinfo` (never a stat, which would ask the mount
 * itself); undefined when it is not listed. Rejects when mountinfo cannot be read.
 */
export async function findMountDevice(mountpoint: string): Promise<string | undefined> {
  return deviceOfMountpoint(await readFile('/proc/self/mountinfo', 'utf8'), mountpoint);
}

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
