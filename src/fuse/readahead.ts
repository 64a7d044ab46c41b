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

/** How long a mount reported as done may take to show in mountinfo (fuse-native reports it a little early). */
const MOUNTINFO_WAIT_MS = 1_000;
const MOUNTINFO_POLL_MS = 20;

/**
 * The device of the mount at `mountpoint` from `/proc/self/mountinfo` (never a stat, which would ask the mount
 * itself), polling for up to `waitMs` while it is not listed yet. Rejects when mountinfo cannot be read.
 */
export async function findMountDevice(mountpoint: string, waitMs: number): Promise<string | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const device = deviceOfMountpoint(await readFile('/proc/self/mountinfo', 'utf8'), mountpoint);
    if (device !== undefined || Date.now() >= deadline) return device;
    await new Promise((resolve) => setTimeout(resolve, MOUNTINFO_POLL_MS));
  }
}

export function readAheadPath(device: string): string {
  return `/sys/class/bdi/${device}/read_ahead_kb`;
}

/**
 * Sets the mount's bdi `read_ahead_kb`. Found through mountinfo rather than a `stat` of the
 * mountpoint: a request from this process to its own mount could block the thread that must
 * answer it. Not root, or no sysfs: the kernel's default stays, with a debug line, never an error.
 */
export async function setMountReadAheadKb(mountpoint: string, readAheadKb: number, logger: Logger): Promise<boolean> {
  try {
    const device = await findMountDevice(mountpoint, MOUNTINFO_WAIT_MS);
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
