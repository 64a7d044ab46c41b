import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';

const GROUP_READ = 0o040;
const OTHERS_READ = 0o004;

/** Who besides the owner can read a file with these mode bits; undefined when nobody can. */
export function readableBeyondOwner(mode: number): 'group' | 'others' | 'group and others' | undefined {
  const group = (mode & GROUP_READ) !== 0;
  const others = (mode & OTHERS_READ) !== 0;
  if (group && others) return 'group and others';
  if (group) return 'group';
  if (others) return 'others';
  return undefined;
}

/** `0644` for messages. */
export function octalMode(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/**
 * Warns when a secret file (token, headers) can be read by other users: the mount keeps working,
 * but anyone in the group (or on the machine) can impersonate its owner. Says nothing of the content.
 */
export function warnIfReadableByOthers(path: string, mode: number, label: string, logger: Logger | undefined): boolean {
  const who = readableBeyondOwner(mode);
  if (who === undefined) return false;
  logger?.warn(
    { path, mode: octalMode(mode), readableBy: who },
    `${label} is readable by ${who} (mode ${octalMode(mode)}): anyone who can read it can use the credentials; chmod 600 it`,
  );
  return true;
}

/** Secret files among `paths` that others can read, for a warning before the mount process starts. Unreadable paths are skipped (the mount reports them). */
export async function secretFilesReadableByOthers(paths: readonly string[]): Promise<{ path: string; mode: string; readableBy: string }[]> {
  const found: { path: string; mode: string; readableBy: string }[] = [];
  for (const path of new Set(paths)) {
    const mode = await stat(path).then(
      (stats) => stats.mode,
      () => undefined,
    );
    const who = mode === undefined ? undefined : readableBeyondOwner(mode);
    if (mode !== undefined && who !== undefined) found.push({ path, mode: octalMode(mode), readableBy: who });
  }
  return found;
}
