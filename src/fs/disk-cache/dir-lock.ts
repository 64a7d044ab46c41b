import { spawn } from 'node:child_process';

/** How long a mount waits for another to finish its turn with the shared state before it skips its own. */
export const LOCK_WAIT_SECONDS = 30;

export class DirLockTimeoutError extends Error {
  constructor(lockPath: string) {
    super(`another process held ${lockPath} for over ${LOCK_WAIT_SECONDS} s`);
    this.name = 'DirLockTimeoutError';
  }
}

/**
 * Runs `work` holding an exclusive `flock` on `lockPath`, shared by every mount using one cache dir. Node has no
 * flock of its own, so util-linux's `flock` holds it: it takes the lock, says so, and keeps it until its input
 * closes, which also happens when this process dies, so a crashed holder never leaves the lock taken. Without
 * the `flock` program the work runs unlocked: what it guards (size accounting and eviction) stays correct, only
 * two mounts may then evict at once.
 */
export async function withDirLock<T>(lockPath: string, work: () => Promise<T>): Promise<T> {
  const holder = spawn('flock', ['-w', String(LOCK_WAIT_SECONDS), lockPath, '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const exited = new Promise<void>((resolve) => holder.once('close', () => resolve()));
  const locked = await new Promise<boolean>((resolve, reject) => {
    holder.stdout.once('data', () => resolve(true));
    holder.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(false) : reject(error)));
    holder.once('exit', () => reject(new DirLockTimeoutError(lockPath)));
  });
  try {
    return await work();
  } finally {
    if (locked) {
      holder.stdin.end();
      await exited;
    }
  }
}
