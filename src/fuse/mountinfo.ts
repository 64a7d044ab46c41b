import { readFile } from 'node:fs/promises';

const MOUNTINFO_PATH = '/proc/self/mountinfo';

/** One line of `/proc/self/mountinfo`. */
export interface MountTableEntry {
  readonly mountpoint: string;
  /** `major:minor`: names the mount's bdi and, for FUSE, its fusectl connection. */
  readonly device: string;
  readonly fsType: string;
  readonly source: string;
}

/** mountinfo escapes space, tab, newline and backslash as `\ooo`. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** The lines of mountinfo text: field 3 is the device, field 5 the mount point; after ` - ` come the type and the source. */
export function parseMountInfo(text: string): MountTableEntry[] {
  const entries: MountTableEntry[] = [];
  for (const line of text.split('\n')) {
    const [before, after] = line.split(' - ');
    if (before === undefined || after === undefined) continue;
    const [, , device, , mountpoint] = before.split(' ');
    const [fsType, source] = after.split(' ');
    if (device === undefined || !/^\d+:\d+$/.test(device) || mountpoint === undefined || fsType === undefined) continue;
    entries.push({ mountpoint: unescapeMountField(mountpoint), device, fsType, source: unescapeMountField(source ?? '') });
  }
  return entries;
}

/** The mounts of this process's namespace, as listed now. Rejects when mountinfo cannot be read. */
export async function readMountTable(): Promise<MountTableEntry[]> {
  return parseMountInfo(await readFile(MOUNTINFO_PATH, 'utf8'));
}

/** The device of the mount at `mountpoint` in mountinfo text (pure, for tests); the last match wins (the newest mount hides older ones). */
export function deviceOfMountpoint(mountinfo: string, mountpoint: string): string | undefined {
  return parseMountInfo(mountinfo).findLast((entry) => entry.mountpoint === mountpoint)?.device;
}

/**
 * The device of the mount at `mountpoint` from `/proc/self/mountinfo` (never a stat, which would ask the mount
 * itself); undefined when it is not listed. Rejects when mountinfo cannot be read.
 */
export async function findMountDevice(mountpoint: string): Promise<string | undefined> {
  return deviceOfMountpoint(await readFile(MOUNTINFO_PATH, 'utf8'), mountpoint);
}
