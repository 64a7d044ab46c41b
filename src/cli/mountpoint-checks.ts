import { execFile } from 'node:child_process';
import { constants } from 'node:fs';
import { access, lstat, readdir, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { findMountDevice } from '../fuse/mountinfo.js';
import { CliError } from './cli-error.js';

const run = promisify(execFile);

/** True when `mountpoint` is itself a mount (a line of /proc/self/mountinfo has it as its mount point). */
export async function isMountpoint(mountpoint: string): Promise<boolean> {
  return (await findMountDevice(resolve(mountpoint))) !== undefined;
}

export async function fusermount(args: readonly string[]): Promise<void> {
  try {
    await run('fusermount', [...args], { timeout: 30_000 });
  } catch (error) {
    const failure = error as { code?: string; stderr?: string; message: string };
    if (failure.code === 'ENOENT') throw new CliError('fusermount is not installed (install the fuse3 or fuse package)');
    throw new CliError((failure.stderr ?? '').trim() || failure.message);
  }
}

/**
 * The absolute mountpoint, a symlink resolved to its target: the kernel mounts on the target, and the mount
 * table names that, so every later check and the unmount must use it too. A path that cannot be resolved is
 * returned as given, for `prepareMountpoint` to explain.
 */
export async function resolveMountpoint(mountpoint: string, say: (line: string) => void): Promise<string> {
  const absolute = resolve(mountpoint);
  const isLink = await lstat(absolute).then(
    (info) => info.isSymbolicLink(),
    () => false,
  );
  if (!isLink) return absolute;
  const target = await realpath(absolute).catch(() => absolute);
  if (target !== absolute) say(`bucketfs: ${absolute} is a symlink: mounting on its target ${target}`);
  return target;
}

/**
 * The mount a user names: the path itself when it is a mount, else the target of a symlink there (mounting
 * resolved it). The mount table is read first, so a hung mount is never stat'ed.
 */
export async function namedMount(mountpoint: string): Promise<string> {
  const absolute = resolve(mountpoint);
  if (await isMountpoint(absolute)) return absolute;
  return resolveMountpoint(absolute, () => {});
}

/** /dev/fuse must exist and be readable and writable by this user. */
export async function checkFuseDevice(devicePath = '/dev/fuse'): Promise<void> {
  try {
    await access(devicePath, constants.R_OK | constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(`${devicePath} does not exist: load the fuse kernel module (modprobe fuse), or give the container --device /dev/fuse`);
    }
    throw new CliError(`no permission to open ${devicePath} (${code}): run as root, or add this user to the group that owns /dev/fuse`);
  }
}

/**
 * The mountpoint must be an existing, empty folder. A mount left behind by a killed bucketfs
 * (`Transport endpoint is not connected`) is unmounted lazily first, with a message.
 */
export async function prepareMountpoint(mountpoint: string, logger: Logger, say: (line: string) => void): Promise<void> {
  const cleanStale = async (): Promise<void> => {
    say(`bucketfs: ${mountpoint} holds a stale mount (Transport endpoint is not connected); cleaning it up`);
    logger.warn({ mountpoint }, 'cleaning up a stale mount');
    await fusermount(['-uz', mountpoint]);
  };
  let info;
  try {
    info = await stat(mountpoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`mountpoint ${mountpoint} does not exist (create it with: mkdir -p ${mountpoint})`);
    if (code === 'ENOTCONN') {
      await cleanStale();
      return prepareMountpoint(mountpoint, logger, say);
    }
    throw new CliError(`cannot use mountpoint ${mountpoint}: ${code ?? String(error)}`);
  }
  if (!info.isDirectory()) throw new CliError(`mountpoint ${mountpoint} is not a folder`);
  let entries: string[];
  try {
    // A dead FUSE daemon's root may still stat from the kernel's attribute cache; listing always asks it.
    entries = await readdir(mountpoint);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTCONN') throw new CliError(`cannot list mountpoint ${mountpoint}: ${code ?? String(error)}`);
    await cleanStale();
    return prepareMountpoint(mountpoint, logger, say);
  }
  if (await isMountpoint(mountpoint)) throw new CliError(`${mountpoint} is already a mount point (unmount it first: bucketfs unmount ${mountpoint})`);
  if (entries.length > 0) throw new CliError(`mountpoint ${mountpoint} is not empty (${entries.length} entries); mount on an empty folder`);
}
