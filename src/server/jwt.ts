import { SignJWT, jwtVerify } from 'jose';

export const JWT_ALGORITHM = 'HS256';

/**
 * RFC 7518 asks HS256 keys to be at least as long as the hash. It also tells a whole secret from the
 * first bytes of one being written: a shorter file is refused, and the last good secret stays.
 */
export const MIN_SECRET_BYTES = 32;

/** The HMAC key of a secret file's content: its text, trimmed (an editor's trailing newline is not part of it). */
export function secretKeyFromText(content: string): Uint8Array {
  const secret = content.trim();
  if (secret === '') throw new Error('the secret is empty');
  const key = new TextEncoder().encode(secret);
  if (key.length < MIN_SECRET_BYTES) throw new Error(`the secret is ${key.length} bytes; HS256 needs at least ${MIN_SECRET_BYTES}`);
  return key;
}

export interface TokenClaims {
  /** Lifetime; the token's `exp` is now + this, in whole seconds. */
  readonly ttlMs: number;
  readonly subject?: string;
}

/** A fresh HS256 JWT with `iat` and `exp` (seconds since the epoch), as AIStore's authn issues them. */
export async function signToken(key: Uint8Array, claims: TokenClaims, nowMs: number = Date.now()): Promise<string> {
  const issuedAtSeconds = Math.floor(nowMs / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: JWT_ALGORITHM, typ: 'JWT' })
    .setIssuedAt(issuedAtSeconds)
    .setExpirationTime(issuedAtSeconds + Math.max(1, Math.ceil(claims.ttlMs / 1000)));
  if (claims.subject !== undefined) jwt.setSubject(claims.subject);
  return jwt.sign(key);
}

/** Whether `token` is an HS256 JWT signed with `key`, carrying an `exp` in the future. */
export async function isValidToken(token: string, key: Uint8Array): Promise<boolean> {
  try {
    await jwtVerify(token, key, { algorithms: [JWT_ALGORITHM], requiredClaims: ['exp'] });
    return true;
  } catch {
    return false;
  }
}
