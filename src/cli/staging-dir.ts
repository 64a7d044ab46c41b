import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where a mount keeps written files until they are uploaded: `DIR/staging` with `--cache-dir DIR`, else
 * `~/.cache/bucketfs/staging/<hash of the mountpoint>` (XDG_CACHE_HOME honoured), beside the mount's run
 * state and log, so the next mount of the same mountpoint finds what an earlier one left.
 */
export function stagingDirFor(mountpoint: string, cacheDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (cacheDir !== undefined) return join(resolve(cacheDir), 'staging');
  const base = env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache');
  const hash = createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, 16);
  return join(base, 'bucketfs', 'staging', hash);
}
