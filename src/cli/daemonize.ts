import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { CliError } from './cli-error.js';
import { withoutSecretFlags } from './secret-args.js';

/** Set in the environment of a detached mount process: the fd on which it reports readiness. */
export const READY_FD_ENV = 'BUCKETFS_READY_FD';
export const DEFAULT_READY_TIMEOUT_MS = 120_000;
/** Carry an inline `--token` and `--header` values to the detached process, so they do not sit in its argv for its whole life. */
export const INLINE_TOKEN_ENV = 'BUCKETFS_INLINE_TOKEN';
export const INLINE_HEADERS_ENV = 'BUCKETFS_INLINE_HEADERS';

type ReadyMessage = { readonly ready: true } | { readonly error: string };

/** Where a detached mount process writes its log: its stderr is not a terminal anymore. */
export function detachedLogPath(mountpoint: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache');
  const name = mountpoint.replace(/^\/+|\/+$/g, '').replace(/[^A-Za-z0-9._-]+/g, '_') || 'root';
  return join(base, 'bucketfs', 'logs', `mount-${name}.log`);
}

/**
 * Runs this same command again with `--foreground`, detached, and waits for it to say the mount is
 * ready (resolves) or why it failed (rejects with that reason). The child's output goes to `logPath`.
 */
export function runDetached(extraArgs: readonly string[], logPath: string, timeoutMs = DEFAULT_READY_TIMEOUT_MS): Promise<number> {
  mkdirSync(join(logPath, '..'), { recursive: true });
  const logFd = openSync(logPath, 'a');
  const script = process.argv[1];
  if (script === undefined) throw new CliError('cannot find the bucketfs script to start the mount process');
  const { args, token, headers } = withoutSecretFlags(process.argv.slice(2));
  const env: NodeJS.ProcessEnv = { ...process.env, [READY_FD_ENV]: '3' };
  if (token !== undefined) env[INLINE_TOKEN_ENV] = token;
  if (headers.length > 0) env[INLINE_HEADERS_ENV] = JSON.stringify(headers);
  const child = spawn(process.execPath, [...mountProcessNodeFlags(process.execArgv), script, ...args, ...extraArgs], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env,
  });
  closeSync(logFd);
  const channel = child.stdio[3];
  return new Promise<number>((resolve, reject) => {
    let received = '';
    let settled = false;
    const finish = (outcome: { ok: true } | { ok: false; error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      process.removeListener('SIGINT', interrupt);
      process.removeListener('SIGTERM', interrupt);
      channel?.destroy();
      child.removeAllListeners('exit');
      if (outcome.ok) {
        child.unref();
        resolve(child.pid ?? 0);
      } else {
        reject(outcome.error);
      }
    };
    // Ctrl-C while waiting: the detached child is in its own session, so stop it explicitly.
    const interrupt = (): void => {
      child.kill('SIGTERM');
      finish({ ok: false, error: new CliError('interrupted before the mount was ready', 130) });
    };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    const timer = setTimeout(() => {
      child.kill('SIGTERM');
      finish({ ok: false, error: new CliError(`the mount was not ready within ${timeoutMs / 1000} s; see ${logPath}`) });
    }, timeoutMs);
    channel?.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      const line = received.split('\n')[0];
      if (line === undefined || !received.includes('\n')) return;
      let message: ReadyMessage;
      try {
        message = JSON.parse(line) as ReadyMessage;
      } catch {
        finish({ ok: false, error: new CliError(`the mount process sent an unreadable status; see ${logPath}`) });
        return;
      }
      finish('ready' in message ? { ok: true } : { ok: false, error: new CliError(message.error) });
    });
    child.once('error', (error) => finish({ ok: false, error: new CliError(`cannot start the mount process: ${error.message}`) }));
    child.once('exit', (code, signal) =>
      finish({ ok: false, error: new CliError(`the mount process exited (${signal ?? `code ${code}`}) before the mount was ready; see ${logPath}`) }),
    );
  });
}

/** In the detached process: tells the waiting parent how the mount went, once. */
export function reportToParent(message: ReadyMessage, env: NodeJS.ProcessEnv = process.env): void {
  const fdText = env[READY_FD_ENV];
  if (fdText === undefined) return;
  delete env[READY_FD_ENV];
  const fd = Number(fdText);
  try {
    writeSync(fd, `${JSON.stringify(message)}\n`);
    closeSync(fd);
  } catch {
    // The parent gave up waiting; the log has the details.
  }
}

export function isDetachedChild(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[READY_FD_ENV] !== undefined;
}

/**
 * In the detached process: the `--token` and `--header` values its parent passed in the environment,
 * removed from this process's environment so no child of it inherits them.
 */
export function takeInlineSecrets(env: NodeJS.ProcessEnv = process.env): { token: string | undefined; headers: string[] } {
  const token = env[INLINE_TOKEN_ENV];
  const headersText = env[INLINE_HEADERS_ENV];
  delete env[INLINE_TOKEN_ENV];
  delete env[INLINE_HEADERS_ENV];
  let headers: string[] = [];
  if (headersText !== undefined) {
    const parsed: unknown = JSON.parse(headersText);
    if (Array.isArray(parsed)) headers = parsed.filter((item): item is string => typeof item === 'string');
  }
  return { token, headers };
}

/** At or below this many CPUs, V8's parallel garbage collection costs a mount more than it saves. */
export const SINGLE_THREADED_GC_MAX_CPUS = 4;

/**
 * V8's young generation of a mount. Its default lets a busy mount's short-lived promises and views take tens of
 * MiB of resident memory beyond `--cache-size` (bench/memory.mjs); small semispaces keep it small, at no CPU
 * cost measurable there, since what a mount allocates in it dies young.
 */
export const MOUNT_SEMI_SPACE_MIB = 2;

/**
 * Node flags of the mount process: this process's own, small semispaces (see `MOUNT_SEMI_SPACE_MIB`), and on a
 * small machine `--single-threaded-gc` (measured on 2 CPUs: 15–25 % less mount CPU per GiB read; the flag cannot
 * be set in NODE_OPTIONS, nor once V8 runs).
 */
export function mountProcessNodeFlags(execArgv: readonly string[], cpuCount: number = availableParallelism()): string[] {
  const flags = [...execArgv];
  const gcChosen = flags.some((flag) => /^--(no-)?(single-threaded-gc|single-threaded|parallel-scavenge|concurrent-marking)\b/.test(flag));
  if (cpuCount <= SINGLE_THREADED_GC_MAX_CPUS && !gcChosen) flags.push('--single-threaded-gc');
  if (!flags.some((flag) => /^--(max-)?semi-space-size\b/.test(flag))) flags.push(`--max-semi-space-size=${MOUNT_SEMI_SPACE_MIB}`);
  return flags;
}
