import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { WatchedFile } from '../auth/watched-file.js';
import { UnauthorizedError } from './errors.js';
import { isValidToken, secretKeyFromText } from './jwt.js';

export const DEFAULT_SECRET_CHECK_INTERVAL_MS = 500;
/** How long a token signed with the secret before a rotation is still accepted. */
export const DEFAULT_PREVIOUS_SECRET_GRACE_MS = 30_000;

export interface AuthOptions {
  readonly secretFile: string;
  readonly checkIntervalMs?: number;
  readonly previousSecretGraceMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

const BEARER = /^Bearer ([^\s]+)$/;

/**
 * Checks `Authorization: Bearer <jwt>` against the secret file, re-read when it changes.
 *
 * Rotation: clients and server cannot switch at the same instant, so after the secret changes, tokens signed with
 * the previous one stay valid for a short grace (`previousSecretGraceMs`, default 30 s; 0 turns it off). Rotate the
 * secret first, then hand out new tokens within the grace, and no client sees a 401.
 */
export class SecretAuthenticator {
  private currentKey: Uint8Array;
  private previous: { key: Uint8Array; untilMs: number } | undefined;
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

  /** Throws (naming the file, never its content) when the secret file is unreadable or empty. */
  static async open(options: AuthOptions): Promise<SecretAuthenticator> {
    const secret = await WatchedFile.open({
      path: options.secretFile,
      parse: secretKeyFromText,
      checkIntervalMs: options.checkIntervalMs ?? DEFAULT_SECRET_CHECK_INTERVAL_MS,
      ...(options.logger ? { logger: options.logger } : {}),
      label: 'auth secret file',
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
      this.previous = this.graceMs > 0 ? { key: this.currentKey, untilMs: nowMs + this.graceMs } : undefined;
      this.currentKey = latest;
    }
    if (this.previous && nowMs < this.previous.untilMs) return [this.currentKey, this.previous.key];
    this.previous = undefined;
    return [this.currentKey];
  }
}
