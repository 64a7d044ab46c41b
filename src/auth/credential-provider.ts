import type { Logger } from 'pino';
import type { BaseParams, BaseParamsSource } from '../store/base-params.js';
import { describeRejection, type RejectionCause } from '../store/rejection-cause.js';
import { CredentialConfigError } from './credential-config-error.js';
import { parseHeadersFile, validateHeader } from './headers-file.js';
import { describeToken, tokenLogFields, type TokenInfo } from './token-info.js';
import { RotationWait } from './rotation-wait.js';
import { resolveTokenSource, tokenSourceLogFields, type TokenSource } from './token-source.js';
import { WatchedFile } from './watched-file.js';

export const DEFAULT_TOKEN_CHECK_INTERVAL_MS = 500;
/** A JWT this close to its `exp` with no newer file in sight means the rotation has stalled. */
export const EXPIRY_WARNING_WINDOW_MS = 5 * 60_000;
const EXPIRY_WARNING_INTERVAL_MS = 60_000;
/** How long a request whose credentials the store refuses waits for the token or headers file to change. */
export const DEFAULT_TOKEN_WAIT_MS = 60_000;
/** Bounds of the periodic check while requests wait: the check interval, but never slower or busier than these. */
const WAIT_POLL_MIN_MS = 100;
const WAIT_POLL_MAX_MS = 1_000;

export interface CredentialOptions {
  endpoint: string;
  token?: string;
  tokenFile?: string;
  /** At most one stat of the token and headers files per this many ms; 0 = every call. Default 500. */
  tokenCheckIntervalMs?: number;
  headers?: Record<string, string>;
  headersFile?: string;
  /** How long requests the store refuses wait for the files to change (DEFAULT_TOKEN_WAIT_MS); 0 = fail at once. */
  tokenWaitMs?: number;
  /** Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  logger: Logger;
  now?: () => number;
}

interface CredentialParts {
  readonly endpoint: string;
  readonly tokenSource: TokenSource;
  readonly staticHeaders: Readonly<Record<string, string>>;
  readonly headersFile: WatchedFile<Readonly<Record<string, string>>> | undefined;
  readonly checkIntervalMs: number;
  readonly tokenWaitMs: number;
  readonly logger: Logger;
  readonly now: () => number;
}

/** Requests held because the store refuses `rejected`, the snapshot in force, until a file changes. */
interface Stall {
  readonly rejected: BaseParams;
  readonly wait: RotationWait;
  readonly startedMs: number;
}

function sameHeaders(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => b[name] === a[name]);
}

/** The bearer token a snapshot sends, from whichever layer set `Authorization`. */
function bearerToken(headers: Readonly<Record<string, string>>): string | undefined {
  const authorization = Object.entries(headers).find(([name]) => name.toLowerCase() === 'authorization')?.[1];
  if (authorization === undefined) return undefined;
  return /^bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] ?? authorization;
}

/** Resolves with `promise`, or with undefined as soon as `signal` aborts. */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T | undefined> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then((value) => {
      signal.removeEventListener('abort', onAbort);
      resolve(value);
    });
  });
}

/** Later layers win on a name clash, compared case-insensitively; the winner's spelling is kept. */
function mergeHeaders(...layers: Readonly<Record<string, string>>[]): Record<string, string> {
  const byLowerName = new Map<string, [string, string]>();
  for (const layer of layers) {
    for (const [name, value] of Object.entries(layer)) byLowerName.set(name.toLowerCase(), [name, value]);
  }
  return Object.fromEntries(byLowerName.values());
}

/**
 * The rotating source of base params: each `current()` returns a frozen snapshot built from the last
 * good token and headers, rebuilt only when a watched file reloaded, so the hot path is a comparison.
 */
export class CredentialProvider implements BaseParamsSource {
  private snapshot: BaseParams | undefined;
  private snapshotTokenGeneration = -1;
  private snapshotHeadersGeneration = -1;
  private tokenInfo: TokenInfo | undefined;
  private reloadRequested = false;
  private forcedReload: Promise<unknown> | undefined;
  private lastExpiryWarningMs = Number.NEGATIVE_INFINITY;
  private stall: Stall | undefined;
  /** The snapshot whose wait ran out: refused again, it fails at once until the files hold something new. */
  private abandoned: BaseParams | undefined;
  private waitingCount = 0;
  private heldCount = 0;

  constructor(private readonly parts: CredentialParts) {
    this.snapshotNow();
  }

  async current(): Promise<BaseParams> {
    if (this.reloadRequested) {
      this.reloadRequested = false;
      this.forcedReload = this.reloadFiles().finally(() => {
        this.forcedReload = undefined;
      });
    }
    if (this.forcedReload !== undefined) await this.forcedReload;
    const tokenFile = this.tokenFile();
    if (tokenFile !== undefined) await tokenFile.get();
    if (this.parts.headersFile !== undefined) await this.parts.headersFile.get();
    const snapshot = this.snapshotNow();
    this.warnIfExpiring();
    return snapshot;
  }

  invalidate(rejected: BaseParams): void {
    // Compared with a freshly built snapshot: if a reload already landed, `rejected` is stale and
    // the next call will use the newer credentials without reading the files again.
    if (rejected !== this.snapshotNow()) return;
    if (this.watchedFiles().length === 0) return;
    // While requests wait on these credentials, the wait's watch and checks notice a change.
    if (this.stall?.rejected === rejected) return;
    this.reloadRequested = true;
  }

  async newerThan(rejected: BaseParams, signal?: AbortSignal): Promise<BaseParams | undefined> {
    const latest = await this.current();
    if (latest !== rejected) return latest;
    if (this.parts.tokenWaitMs === 0 || this.watchedFiles().length === 0 || this.abandoned === rejected) return undefined;
    // A stall is always on the snapshot in force (a new snapshot ends it), so this one is on `rejected`.
    const stall = (this.stall ??= this.startStall(rejected));
    this.waitingCount += 1;
    this.heldCount += 1;
    try {
      await unlessAborted(stall.wait.done, signal);
    } finally {
      this.waitingCount -= 1;
    }
    const after = this.snapshotNow();
    return after === rejected ? undefined : after;
  }

  rejectionCause(rejected: BaseParams): RejectionCause {
    const token = bearerToken(rejected.headers);
    if (token === undefined) return { kind: 'no-token' };
    const expiresAt = describeToken(token).expiresAt;
    return expiresAt !== undefined && expiresAt.getTime() <= this.parts.now() ? { kind: 'expired', expiresAt } : { kind: 'rejected' };
  }

  /** Requests waiting now for the token or headers file to change. */
  get waitingRequests(): number {
    return this.waitingCount;
  }

  /** Requests that had to wait for the token or headers file to change, since start. */
  get heldRequests(): number {
    return this.heldCount;
  }

  /** Ends a wait in progress (its requests fail as refused); for shutdown. */
  close(): void {
    this.stall?.wait.stop(false);
  }

  /** The current token's JWT `exp`, for an expiry gauge; undefined when anonymous or not a JWT. */
  tokenExpiresAt(): Date | undefined {
    this.snapshotNow();
    return this.tokenInfo?.expiresAt;
  }

  /** Successful reloads of the token and headers files since start. */
  get reloads(): number {
    return (this.tokenFile()?.generation ?? 0) + (this.parts.headersFile?.generation ?? 0);
  }

  /** Reloads that failed and left the last good credentials in force. */
  get reloadFailures(): number {
    return (this.tokenFile()?.reloadFailures ?? 0) + (this.parts.headersFile?.reloadFailures ?? 0);
  }

  get tokenSource(): TokenSource['kind'] {
    return this.parts.tokenSource.kind;
  }

  private tokenFile(): WatchedFile<string> | undefined {
    const source = this.parts.tokenSource;
    return source.kind === 'file' ? source.file : undefined;
  }

  private currentToken(): string | undefined {
    const source = this.parts.tokenSource;
    switch (source.kind) {
      case 'inline':
      case 'env':
        return source.token;
      case 'file':
        return source.file.value;
      case 'anonymous':
        return undefined;
    }
  }

  private watchedFiles(): WatchedFile<unknown>[] {
    return [this.tokenFile(), this.parts.headersFile].filter((file): file is WatchedFile<never> => file !== undefined);
  }

  private startStall(rejected: BaseParams): Stall {
    const files = this.watchedFiles();
    const wait = new RotationWait({
      paths: files.map((file) => file.path),
      check: async () => {
        await Promise.all(files.map((file) => file.checkNow()));
        return this.snapshotNow() !== rejected;
      },
      pollIntervalMs: Math.min(WAIT_POLL_MAX_MS, Math.max(WAIT_POLL_MIN_MS, this.parts.checkIntervalMs)),
      timeoutMs: this.parts.tokenWaitMs,
      logger: this.parts.logger,
    });
    const stall: Stall = { rejected, wait, startedMs: this.parts.now() };
    const waitSeconds = this.parts.tokenWaitMs / 1000;
    this.parts.logger.warn(
      { ...this.fileLogFields(), cause: describeRejection(this.rejectionCause(rejected)), waitSeconds },
      `the store refuses the credentials and the files hold no newer ones: holding requests up to ${waitSeconds} s for ${files.map((file) => file.path).join(' or ')} to change`,
    );
    void wait.done.then((changed) => this.endStall(stall, changed));
    return stall;
  }

  private endStall(stall: Stall, changed: boolean): void {
    if (this.stall === stall) this.stall = undefined;
    const heldSeconds = Math.round((this.parts.now() - stall.startedMs) / 100) / 10;
    if (changed) {
      this.parts.logger.info({ ...this.fileLogFields(), heldSeconds }, 'new credentials: held requests go on');
      return;
    }
    this.abandoned = stall.rejected;
    this.parts.logger.error(
      { ...this.fileLogFields(), heldSeconds },
      'no new credentials within the token wait: requests fail with EACCES until the token or headers file changes',
    );
  }

  /** Which files the credentials come from, and the token's exp; never a token or header value. */
  private fileLogFields(): Record<string, string | number> {
    const headersFile = this.parts.headersFile?.path;
    return {
      ...tokenSourceLogFields(this.parts.tokenSource),
      ...(headersFile === undefined ? {} : { headersFile }),
      ...(this.tokenInfo?.expiresAt === undefined ? {} : { tokenExpiresAt: this.tokenInfo.expiresAt.toISOString() }),
    };
  }

  private reloadFiles(): Promise<unknown> {
    return Promise.all([this.tokenFile()?.forceReload(), this.parts.headersFile?.forceReload()]);
  }

  /** Synchronous, so a snapshot is always built from one consistent (token, headers) pair. */
  private snapshotNow(): BaseParams {
    const tokenGeneration = this.tokenFile()?.generation ?? 0;
    const headersGeneration = this.parts.headersFile?.generation ?? 0;
    if (
      this.snapshot !== undefined &&
      tokenGeneration === this.snapshotTokenGeneration &&
      headersGeneration === this.snapshotHeadersGeneration
    ) {
      return this.snapshot;
    }
    const token = this.currentToken();
    const fileHeaders = this.parts.headersFile?.value ?? {};
    // An explicitly configured token is the one meant for Authorization, whatever the header layers say.
    const authorization: Record<string, string> = token === undefined ? {} : { Authorization: `Bearer ${token}` };
    const headers = Object.freeze(mergeHeaders(this.parts.staticHeaders, fileHeaders, authorization));
    const isFirst = this.snapshot === undefined;
    // A reload that found the same credentials keeps the snapshot: "the same token again" stays recognisable.
    if (this.snapshot === undefined || !sameHeaders(this.snapshot.headers, headers)) {
      this.snapshot = Object.freeze({ endpoint: this.parts.endpoint, headers });
      this.abandoned = undefined;
      // Cleared here, not when the wait's promise settles: a request refused with the new snapshot starts a new wait.
      const ended = this.stall;
      this.stall = undefined;
      ended?.wait.stop(true);
    }
    if (isFirst || tokenGeneration !== this.snapshotTokenGeneration) this.logTokenLoaded(token, isFirst);
    if (!isFirst && headersGeneration !== this.snapshotHeadersGeneration) {
      this.parts.logger.info({ headersFile: this.parts.headersFile?.path, headerNames: Object.keys(fileHeaders) }, 'headers file reloaded');
    }
    this.snapshotTokenGeneration = tokenGeneration;
    this.snapshotHeadersGeneration = headersGeneration;
    return this.snapshot;
  }

  private logTokenLoaded(token: string | undefined, isFirst: boolean): void {
    this.tokenInfo = token === undefined ? undefined : describeToken(token);
    this.lastExpiryWarningMs = Number.NEGATIVE_INFINITY;
    const fields = { ...tokenSourceLogFields(this.parts.tokenSource), ...(this.tokenInfo ? tokenLogFields(this.tokenInfo) : {}) };
    if (isFirst) {
      const headerNames = Object.keys(mergeHeaders(this.parts.staticHeaders, this.parts.headersFile?.value ?? {}));
      this.parts.logger.info({ ...fields, headerNames }, 'credentials loaded');
    } else {
      this.parts.logger.info(fields, 'token reloaded');
    }
  }

  private warnIfExpiring(): void {
    const expiresAt = this.tokenInfo?.expiresAt;
    if (expiresAt === undefined) return;
    const nowMs = this.parts.now();
    const remainingMs = expiresAt.getTime() - nowMs;
    if (remainingMs >= EXPIRY_WARNING_WINDOW_MS || nowMs - this.lastExpiryWarningMs < EXPIRY_WARNING_INTERVAL_MS) return;
    this.lastExpiryWarningMs = nowMs;
    this.parts.logger.warn(
      { ...tokenSourceLogFields(this.parts.tokenSource), ...tokenLogFields(this.tokenInfo!), secondsUntilExpiry: Math.round(remainingMs / 1000) },
      remainingMs <= 0 ? 'token has expired and no newer one has appeared' : 'token expires soon and no newer one has appeared',
    );
  }
}

function checkedStaticHeaders(headers: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeader(name, value);
    } catch (error) {
      throw new CredentialConfigError(`header ${JSON.stringify(name)}: ${(error as Error).message}`);
    }
  }
  return mergeHeaders(headers);
}

function checkedInterval(intervalMs: number): number {
  if (!Number.isFinite(intervalMs) || intervalMs < 0) {
    throw new CredentialConfigError(`token check interval must be a non-negative number of ms, got ${intervalMs}`);
  }
  return intervalMs;
}

function checkedTokenWait(waitMs: number): number {
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new CredentialConfigError(`token wait must be a non-negative number of ms, got ${waitMs}`);
  return waitMs;
}

async function openHeadersFile(path: string, checkIntervalMs: number, logger: Logger, now: () => number) {
  try {
    return await WatchedFile.open({ path, parse: parseHeadersFile, checkIntervalMs, logger, label: 'headers file', secret: true, now });
  } catch (error) {
    throw new CredentialConfigError((error as Error).message, { cause: error });
  }
}

/**
 * Resolves the token source and loads the configured files. Throws CredentialConfigError when an
 * explicitly configured file or header cannot be used, so a mount fails at start rather than with EACCES.
 */
export async function createCredentialProvider(options: CredentialOptions): Promise<CredentialProvider> {
  const now = options.now ?? Date.now;
  const checkIntervalMs = checkedInterval(options.tokenCheckIntervalMs ?? DEFAULT_TOKEN_CHECK_INTERVAL_MS);
  const staticHeaders = Object.freeze(checkedStaticHeaders(options.headers ?? {}));
  const tokenSource = await resolveTokenSource({
    token: options.token,
    tokenFile: options.tokenFile,
    tokenCheckIntervalMs: checkIntervalMs,
    env: options.env ?? process.env,
    logger: options.logger,
    now,
  });
  const headersFile = options.headersFile === undefined ? undefined : await openHeadersFile(options.headersFile, checkIntervalMs, options.logger, now);
  return new CredentialProvider({
    endpoint: options.endpoint.replace(/\/+$/, ''),
    tokenSource,
    staticHeaders,
    headersFile,
    checkIntervalMs,
    tokenWaitMs: checkedTokenWait(options.tokenWaitMs ?? DEFAULT_TOKEN_WAIT_MS),
    logger: options.logger,
    now,
  });
}
