import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/** What a mount process leaves behind for `bucketfs status`: who serves the mount, and where its health is. */
export interface MountRunState {
  readonly pid: number;
  readonly mountpoint: string;
  /** `http://host:port` of /metrics and /healthz, when the mount serves them. */
  readonly metricsUrl?: string;
  /** The staging area of a writable mount (`bucketfs status` reports what is in it). */
  readonly stagingDir?: string;
}

/** `~/.cache/bucketfs/run/<hash of the mountpoint>.json` (XDG_CACHE_HOME honoured). */
export function runStatePath(mountpoint: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache');
  const hash = createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, 16);
  return join(base, 'bucketfs', 'run', `${hash}.json`);
}

export async function writeRunState(state: MountRunState, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = runStatePath(state.mountpoint, env);
  await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  return path;
}

export async function removeRunState(mountpoint: string, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await rm(runStatePath(mountpoint, env), { force: true });
}

/** The state file's content; undefined when there is none or it is not ours. */
export function parseRunState(text: string): MountRunState | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { pid, mountpoint, metricsUrl, stagingDir } = parsed as Record<string, unknown>;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0 || typeof mountpoint !== 'string') return undefined;
  return { pid, mountpoint, ...(typeof metricsUrl === 'string' ? { metricsUrl } : {}), ...(typeof stagingDir === 'string' ? { stagingDir } : {}) };
}

export async function readRunState(mountpoint: string, env: NodeJS.ProcessEnv = process.env): Promise<MountRunState | undefined> {
  try {
    return parseRunState(await readFile(runStatePath(mountpoint, env), 'utf8'));
  } catch {
    return undefined;
  }
}
