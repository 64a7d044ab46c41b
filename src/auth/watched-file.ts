import type { BigIntStats } from 'node:fs';
import type { Logger } from 'pino';
import { warnIfReadableByOthers } from './file-permissions.js';
import { readRegularFile, statWithin } from './regular-file.js';

export interface WatchedFileOptions<T> {
  path: string;
  /**
   * Turns the file's text into a value, throwing on anything invalid. Its error messages are logged,
   * so they must describe the problem without quoting the content (the content may be a secret).
   */
  parse: (content: string) => T;
  /** At most one `stat` per this many ms; 0 checks on every `get()`. */
  checkIntervalMs: number;
  logger?: Logger;
  /** What this file is, for messages: "token file", "auth secret file". */
  label?: string;
  /** Warn (at open and after each reload) when the file is readable by group or others: it holds a secret. */
  secret?: boolean;
  /** Time bound of each stat and read; past it the last good value stays. Default DEFAULT_READ_TIMEOUT_MS. */
  timeoutMs?: number;
  now?: () => number;
}

/** Failed-reload warnings are limited to one per this window, so a file stuck half-written cannot flood the log. */
const RELOAD_WARNING_INTERVAL_MS = 60_000;

/**
 * Identity of one version of a file. mtime alone is not enough: two writes within the filesystem's
 * timestamp granularity share it, and a Kubernetes Secret update swaps a symlink (new inode, maybe same size).
 */
interface FileIdentity {
  readonly mtimeNs: bigint;
  readonly size: bigint;
  readonly ino: bigint;
  readonly dev: bigint;
}

function identityOf(stats: BigIntStats): FileIdentity {
  return { mtimeNs: stats.mtimeNs, size: stats.size, ino: stats.ino, dev: stats.dev };
}

function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.mtimeNs === b.mtimeNs && a.size === b.size && a.ino === b.ino && a.dev === b.dev;
}

const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a parent is not a folder',
  ELOOP: 'too many symlinks',
};

/** The reason without repeating the path (the message names it once). */
function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return `${ERRNO_REASONS[code] ?? 'cannot read'} (${code})`;
  if (error instanceof Error) return error.message;
  return 'invalid content';
}

interface Loaded<T> {
  readonly value: T;
  readonly identity: FileIdentity;
  /** Permission bits of the version read. */
  readonly mode: number;
}

/**
 * Reads `path` with the identity it had when opened: the stat is taken on the open descriptor before
 * reading, so a write that lands during or after the read changes the identity and is seen next check.
 */
async function load<T>(path: string, parse: (content: string) => T, timeoutMs: number | undefined): Promise<Loaded<T>> {
  const { text, stats } = await readRegularFile(path, timeoutMs === undefined ? {} : { timeoutMs });
  return { value: parse(text), identity: identityOf(stats), mode: Number(stats.mode) };
}

/**
 * A file whose parsed content is kept in memory and reloaded when the file changes (a rotated token,
 * a rotated signing secret). Readers always get the last good value: a reload that fails keeps it.
 */
export class WatchedFile<T> {
  private current: Loaded<T>;
  private generationCount = 0;
  private failureCount = 0;
  private lastCheckMs: number;
  private checking: Promise<T> | undefined;
  private reloading: Promise<T> | undefined;
  private lastWarningMs = Number.NEGATIVE_INFINITY;
  private suppressedWarnings = 0;
  private readonly label: string;
  private readonly now: () => number;

  private constructor(
    private readonly options: WatchedFileOptions<T>,
    initial: Loaded<T>,
  ) {
    this.current = initial;
    this.label = options.label ?? 'file';
    this.now = options.now ?? Date.now;
    this.lastCheckMs = this.now();
  }

  /** Loads the file once; throws an Error naming the path and the reason when it is unreadable or invalid. */
  static async open<T>(options: WatchedFileOptions<T>): Promise<WatchedFile<T>> {
    let initial: Loaded<T>;
    try {
      initial = await load(options.path, options.parse, options.timeoutMs);
    } catch (error) {
      throw new Error(`cannot load ${options.label ?? 'file'} ${options.path}: ${reasonOf(error)}`, { cause: error });
    }
    const file = new WatchedFile(options, initial);
    file.checkPermissions();
    return file;
  }

  get path(): string {
    return this.options.path;
  }

  /** Bumps on each successful reload (0 after `open`). */
  get generation(): number {
    return this.generationCount;
  }

  /** Reloads that failed and left the last good value in force. */
  get reloadFailures(): number {
    return this.failureCount;
  }

  /** The last good value, without checking the file: for building a consistent snapshot after `get()`. */
  get value(): T {
    return this.current.value;
  }

  /** The last good value, after checking the file for a change if the check interval has passed. */
  get(): Promise<T> {
    if (this.reloading !== undefined) return this.reloading;
    if (this.checking !== undefined) return this.checking;
    if (this.now() - this.lastCheckMs < this.options.checkIntervalMs) return Promise.resolve(this.current.value);
    return this.checkNow();
  }

  /** Checks the file for a change now, whatever the interval (a watcher saw its folder change). */
  checkNow(): Promise<T> {
    if (this.reloading !== undefined) return this.reloading;
    if (this.checking !== undefined) return this.checking;
    this.lastCheckMs = this.now();
    this.checking = this.checkForChange().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  /** Reloads now, whatever the stat says (the store rejected the credentials); concurrent callers share one reload. */
  forceReload(): Promise<T> {
    if (this.reloading !== undefined) return this.reloading;
    this.reloading = this.reload().finally(() => {
      this.reloading = undefined;
    });
    return this.reloading;
  }

  private async checkForChange(): Promise<T> {
    let identity: FileIdentity;
    try {
      // stat, not lstat: it follows the `..data` symlink, so a Kubernetes swap shows up as a new inode.
      identity = identityOf(await statWithin(this.options.path, this.options.timeoutMs));
    } catch (error) {
      this.recordFailure(error);
      return this.current.value;
    }
    if (sameIdentity(identity, this.current.identity)) return this.current.value;
    return this.forceReload();
  }

  private async reload(): Promise<T> {
    try {
      this.current = await load(this.options.path, this.options.parse, this.options.timeoutMs);
      this.generationCount += 1;
      this.checkPermissions();
      this.lastWarningMs = Number.NEGATIVE_INFINITY;
      this.lastCheckMs = this.now();
    } catch (error) {
      // The identity stays the old one, so the next check sees the change again and retries.
      this.recordFailure(error);
    }
    return this.current.value;
  }

  private checkPermissions(): void {
    if (this.options.secret) warnIfReadableByOthers(this.options.path, this.current.mode, this.label, this.options.logger);
  }

  private recordFailure(error: unknown): void {
    this.failureCount += 1;
    const nowMs = this.now();
    if (nowMs - this.lastWarningMs < RELOAD_WARNING_INTERVAL_MS) {
      this.suppressedWarnings += 1;
      return;
    }
    this.lastWarningMs = nowMs;
    const suppressed = this.suppressedWarnings;
    this.suppressedWarnings = 0;
    this.options.logger?.warn(
      { path: this.options.path, reason: reasonOf(error), failures: this.failureCount, ...(suppressed > 0 ? { suppressed } : {}) },
      `cannot reload ${this.label}; keeping the last good version`,
    );
  }
}
