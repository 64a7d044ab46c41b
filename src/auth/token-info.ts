import { createHash } from 'node:crypto';
import { decodeJwt } from 'jose';

/** What may be said about a token in logs and metrics: enough to tell two tokens apart, nothing to reuse. */
export interface TokenInfo {
  readonly length: number;
  /** First 8 hex digits of the SHA-256 of the token. */
  readonly sha256Prefix: string;
  /** The JWT's `exp`, read without verifying the signature (the store verifies); absent for other tokens. */
  readonly expiresAt?: Date;
}

function jwtExpiry(token: string): Date | undefined {
  try {
    const exp = decodeJwt(token).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

export function describeToken(token: string): TokenInfo {
  const sha256Prefix = createHash('sha256').update(token).digest('hex').slice(0, 8);
  const expiresAt = jwtExpiry(token);
  return expiresAt === undefined ? { length: token.length, sha256Prefix } : { length: token.length, sha256Prefix, expiresAt };
}

/** TokenInfo as log fields (the date as ISO text). */
export function tokenLogFields(info: TokenInfo): Record<string, string | number> {
  return {
    tokenLength: info.length,
    tokenSha256: info.sha256Prefix,
    ...(info.expiresAt === undefined ? {} : { tokenExpiresAt: info.expiresAt.toISOString() }),
  };
}
