import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { TOKEN_ENV } from '../auth/token-source.js';
import { CliError } from './cli-error.js';
import { withoutSecretFlags } from './secret-args.js';

/** Set in the environment of a detached mount process: the fd on which it reports readiness. */
export const READY_FD_ENV = 'BUCKETFS_READY_FD';
/** Set in the environment of a detached mount process: the log file its stdout and stderr go to. */
const LOG_FILE_ENV = 'BUCKETFS_LOG_FILE';
export const DEFAULT_READY_TIMEOUT_MS = 120_000;
/**
 * Environment variables that hold secrets: the detached process gets them over the readiness pipe, not in its
 * environment, whose first copy the kernel keeps readable in /proc/PID/environ for the process's whole life.
 */
const SECRET_ENV_NAMES = [TOKEN_ENV] as const;
/** Longest secrets line the parent may send: tokens and headers are small. */
const MAX_SECRETS_BYTES = 1024 * 1024;

/** `warnings`: what the starting command says for the mount, which works all the same. */
type ReadyMessage = { readonly ready: true; readonly warnings?: readonly string[] } | { readonly error: string };

/** What the parent hands the detached process on the readiness pipe, first thing: its secrets, as one JSON line. */
export interface ParentSecrets {
  /** The `--token` value. */
  readonly token?: string;
  /** The `--header` values, in order. */
  readonly headers: readonly string[];
  /** Secret environment variables, left out of the child's environment. */
  readonly env: Readonly<Record<string, string>>;
}

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
  const env: NodeJS.ProcessEnv = { ...process.env, [READY_FD_ENV]: '3', [LOG_FILE_ENV]: logPath };
  const secretEnv: Record<string, string> = {};
  for (const name of SECRET_ENV_NAMES) {
    const value = env[name];
    delete env[name];
    if (value !== undefined) secretEnv[name] = value;
  }
  const secrets: ParentSecrets = { ...(token !== undefined ? { token } : {}), headers, env: secretEnv };
  const child = spawn(process.execPath, [...mountProcessNodeFlags(process.execArgv), script, ...args, ...extraArgs], {
    detached: true,
    stdio: ['ignore', logFd, logFd, 'pipe'],
    env,
  });
  closeSync(logFd);
  // A 'pipe' beyond stdio is a socket pair: the parent both writes the secrets and reads the answer on it.
  const channel = child.stdio[3] as Duplex | null;
  // A child gone before reading makes the write fail; its exit, heard below, says what happened.
  channel?.on('error', () => undefined);
  // Buffered by the socket until the child reads it, first thing, before anything else can fail.
  channel?.write(`${JSON.stringify(secrets)}\n`);
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
      if ('ready' in message) for (const warning of message.warnings ?? []) process.stderr.write(`bucketfs: warning: ${warning}\n`);
      finish('ready' in message ? { ok: true } : { ok: false, error: new CliError(message.error) });
    });
    child.once('error', (error) => {
      removeIfEmpty(logPath);
      finish({ ok: false, error: new CliError(`cannot start the mount process: ${error.message}`) });
    });
    child.once('exit', (code, signal) => {
      const where = removeIfEmpty(logPath) ? 'it wrote no log' : `see ${logPath}`;
      finish({ ok: false, error: new CliError(`the mount process exited (${signal ?? `code ${code}`}) before the mount was ready; ${where}`) });
    });
  });
}

/** Removes a log file that holds nothing; true when it is gone (or was never there). */
function removeIfEmpty(path: string, sameFileAs?: { readonly dev: number; readonly ino: number }): boolean {
  try {
    const info = statSync(path);
    if (info.size > 0 || (sameFileAs !== undefined && (info.dev !== sameFileAs.dev || info.ino !== sameFileAs.ino))) return false;
    unlinkSync(path);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * In the detached process: at exit, its log file goes if nothing was written to it (a mount that ran and stopped
 * cleanly at the default level), so the logs folder keeps only logs that say something. Only the very file this
 * process writes to: a later mount of the same mountpoint may have made a new one.
 */
export function removeEmptyLogAtExit(env: NodeJS.ProcessEnv = process.env): void {
  const logPath = env[LOG_FILE_ENV];
  if (logPath === undefined) return;
  delete env[LOG_FILE_ENV];
  let ours: { dev: number; ino: number };
  try {
    ours = fstatSync(2);
  } catch {
    return;
  }
  process.once('exit', () => removeIfEmpty(logPath, ours));
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

/** Reads one line from a blocking descriptor, without reading past it (nothing else is sent before it is answered). */
function readLine(fd: number): string {
  const chunks: Buffer[] = [];
  let length = 0;
  const byte = Buffer.alloc(1);
  for (;;) {
    if (readSync(fd, byte, 0, 1, null) === 0) break;
    if (byte[0] === 0x0a) break;
    chunks.push(Buffer.from(byte));
    length += 1;
    if (length > MAX_SECRETS_BYTES) throw new CliError('the secrets sent by the starting command are too large');
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseSecrets(line: string): ParentSecrets {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    // JSON.parse's message would quote the secrets.
    throw new CliError('the starting command sent unreadable secrets');
  }
  const raw = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const headers = Array.isArray(raw.headers) ? raw.headers.filter((item): item is string => typeof item === 'string') : [];
  const env = Object.fromEntries(
    Object.entries(typeof raw.env === 'object' && raw.env !== null ? raw.env : {}).filter(
      (entry): entry is [string, string] => (SECRET_ENV_NAMES as readonly string[]).includes(entry[0]) && typeof entry[1] === 'string',
    ),
  );
  return { ...(typeof raw.token === 'string' ? { token: raw.token } : {}), headers, env };
}

/**
 * In the detached process: the secrets its parent sent first thing on the readiness pipe (the `--token` and
 * `--header` values, secret environment variables). They live in this process's memory only: not in its
 * argv, not in its environment.
 */
export function takeParentSecrets(env: NodeJS.ProcessEnv = process.env): ParentSecrets {
  const fdText = env[READY_FD_ENV];
  if (fdText === undefined) return { headers: [], env: {} };
  return parseSecrets(readLine(Number(fdText)));
}

/** At or below this many CPUs, V8's parallel garbage collection costs a mount more than it saves. */
export const SINGLE_THREADED_GC_MAX_CPUS = 4;

/**
 * V8's young generation of a mount, at most. A listing page of the store's default size is parsed and taken apart
 * as one piece of work, all of it alive until then: in a young generation smaller than a page, every scavenge
 * copies the page and most of it is promoted, which is most of what a walk of a big tree costs
 * (bench/listing-core.mjs counts the collections). A larger one lets many concurrent reads keep more resident
 * (bench/memory.mjs): this one holds a page with room to spare and no more.
 */
export const MOUNT_SEMI_SPACE_MIB = 8;

/**
 * WebAssembly of a mount compiled by V8's baseline compiler only. The only WebAssembly a mount runs is undici's
 * HTTP parser (listings, HEADs, uploads), whose optimized compile takes tens of MiB of C heap on a V8 worker
 * thread for seconds after a mount's first requests, and that thread's heap keeps much of it: under many
 * readers, more than the rest of the runtime's share of the memory bound (bench/memory.mjs). The parser's time
 * is in undici's JavaScript around it, not in the parser: measured, a HEAD costs the mount no more without it.
 */
export const MOUNT_WASM_FLAG = '--liftoff-only';

/**
 * Node flags of the mount process: this process's own, small semispaces (see `MOUNT_SEMI_SPACE_MIB`), baseline
 * WebAssembly (`MOUNT_WASM_FLAG`), and on a small machine `--single-threaded-gc` (measured on 2 CPUs: 15–25 %
 * less mount CPU per GiB read; the flag cannot be set in NODE_OPTIONS, nor once V8 runs).
 */
export function mountProcessNodeFlags(execArgv: readonly string[], cpuCount: number = availableParallelism()): string[] {
  const flags = [...execArgv];
  const gcChosen = flags.some((flag) => /^--(no-)?(single-threaded-gc|single-threaded|parallel-scavenge|concurrent-marking)\b/.test(flag));
  if (cpuCount <= SINGLE_THREADED_GC_MAX_CPUS && !gcChosen) flags.push('--single-threaded-gc');
  if (!flags.some((flag) => /^--(max-)?semi-space-size\b/.test(flag))) flags.push(`--max-semi-space-size=${MOUNT_SEMI_SPACE_MIB}`);
  if (!flags.some((flag) => /^--(no-)?(liftoff|liftoff-only|wasm-tier-up)\b/.test(flag))) flags.push(MOUNT_WASM_FLAG);
  return flags;
}
