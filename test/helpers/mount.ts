import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killAll } from './processes.js';

/** Every mountpoint a test made, so `cleanupMounts` unmounts them even when the test failed. */
const mountpoints = new Set<string>();

/** A new empty folder under the temp dir, registered for cleanup. */
export function makeMountpoint(label = 'mnt'): string {
  const dir = mkdtempSync(join(tmpdir(), `bucketfs-${label}-`));
  mountpoints.add(dir);
  return dir;
}

export function isMounted(mountpoint: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === mountpoint);
}

/** Lazily unmounts (ignoring "not mounted"); never throws. */
export function forceUnmount(mountpoint: string): void {
  try {
    execFileSync('fusermount', ['-uz', mountpoint], { stdio: 'ignore' });
  } catch {
    // not mounted
  }
}

/** For afterEach/afterAll: stop every process, unmount and remove every mountpoint. */
export function cleanupMounts(): void {
  killAll();
  killDaemons();
  for (const mountpoint of mountpoints) {
    forceUnmount(mountpoint);
    // Only once unmounted: removing inside a live mount would delete the bucket's objects.
    try {
      if (!isMounted(mountpoint)) rmSync(mountpoint, { recursive: true, force: true });
    } catch {
      // gone or still busy: nothing more to do
    }
  }
  mountpoints.clear();
}

/** Polls until `check` holds or `timeoutMs` passes. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Pids of detached mount processes the CLI reported, killed by `cleanupMounts` too. */
const daemonPids = new Set<number>();

export function rememberDaemon(pid: number): void {
  daemonPids.add(pid);
}

/** The pid in the CLI's "mounted at X (process N, ...)" line, remembered for cleanup. */
export function daemonPidFrom(output: string): number | undefined {
  const match = /\(process (\d+),/.exec(output);
  if (!match?.[1]) return undefined;
  const pid = Number(match[1]);
  rememberDaemon(pid);
  return pid;
}

export function killDaemons(): void {
  for (const pid of daemonPids) {
    // A pid is reused once its process is gone: only a bucketfs process of ours is killed.
    if (!isBucketfsProcess(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  daemonPids.clear();
}

function isBucketfsProcess(pid: number): boolean {
  try {
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return commandLine.includes('bucketfs') || commandLine.includes('cli/main.js');
  } catch {
    return false;
  }
}
