import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { WatchedFile } from '../auth/watched-file.js';
import { UnauthorizedError } from './errors.js';
import { isValidToken, secretKeyFromText } from './jwt.js';

export const DEFAULT_SECRET_CHECK_INTERVAL_MS = 500;
/** How long a token signed with a secret that has been replaced is still accepted. */
export const DEFAULT_PREVIOUS_SECRET_GRACE_MS = 30_000;

export interface AuthOptions {
  readonly secretFile: string;
  readonly checkIntervalMs?: number;
  readonly previousSecretGraceMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** RFC 7235: the scheme is case-insensitive, and one or more spaces part it from the credentials. */
const BEARER = /^Bearer +(\S+)$/i;

interface RetiredKey {
  readonly key: Uint8Array;
  readonly untilMs: number;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * Checks `Authorization: Bearer <jwt>` against the secret file, re-read when it changes.
 *
 * Rotation: clients and server cannot switch at the same instant, so after the secret changes, tokens signed with
 * any secret replaced within the grace (`previousSecretGraceMs`, default 30 s; 0 turns it off) stay valid: every
 * one of them, so two rotations in a row do not cut off the first secret's tokens. Rotate the secret first, then
 * hand out new tokens within the grace, and no client sees a 401. A file shorter than MIN_SECRET_BYTES (an empty
 * or half-written one) is not taken as a secret; the last good one stays.
 */
export class SecretAuthenticator {
  private currentKey: Uint8Array;
  /** Replaced secrets still within their grace, newest first. */
  private retired: RetiredKey[] = [];
  private readonly now: () => number;
  private readonly graceMs: number;

  private constructor(
    private readonly secret: WatchedFile<Uint8Array>,
    options: AuthOptions,
  ) {
    this.currentKey = secret.value;
    this.now = options.now ?? Date.now;
    this.graceMs = options.previousSecretGraceMs ?? DEFAULT_PREVIOUS_SECRET_GRACE_MS;
  }

  /** Throws (naming the file, never its content) when the secret file is unreadable, too short or not a regular file. */
  static async open(options: AuthOptions): Promise<SecretAuthenticator> {
    const secret = await WatchedFile.open({
      path: options.secretFile,
      parse: secretKeyFromText,
      checkIntervalMs: options.checkIntervalMs ?? DEFAULT_SECRET_CHECK_INTERVAL_MS,
      ...(options.logger ? { logger: options.logger } : {}),
      label: 'auth secret file',
      ...(options.now ? { now: options.now } : {}),
    });
    return new SecretAuthenticator(secret, options);
  }

  /** Resolves when the request carries a valid token; rejects with a 401 otherwise. */
  async authenticate(request: IncomingMessage): Promise<void> {
    const header = request.headers.authorization;
    const match = header === undefined ? null : BEARER.exec(header);
    if (!match?.[1]) throw new UnauthorizedError('missing or malformed "Authorization: Bearer <token>" header');
    const keys = await this.acceptedKeys();
    for (const key of keys) {
      if (await isValidToken(match[1], key)) return;
    }
    throw new UnauthorizedError('invalid or expired token');
  }

  private async acceptedKeys(): Promise<Uint8Array[]> {
    const latest = await this.secret.get();
    const nowMs = this.now();
    if (latest !== this.currentKey) {
      if (this.graceMs > 0) this.retired.unshift({ key: this.currentKey, untilMs: nowMs + this.graceMs });
      this.currentKey = latest;
    }
    // A secret that comes back (A, B, A) is current again, not also retired.
    this.retired = this.retired.filter((retired) => nowMs < retired.untilMs && !sameKey(retired.key, latest));
    return [this.currentKey, ...this.retired.map((retired) => retired.key)];
  }
}
