import { SignJWT, jwtVerify } from 'jose';

export const JWT_ALGORITHM = 'HS256';

/** The HMAC key of a secret file's content: its text, trimmed (an editor's trailing newline is not part of it). */
export function secretKeyFromText(content: string): Uint8Array {
  const secret = content.trim();
  if (secret === '') throw new Error('the secret is empty');
  return new TextEncoder().encode(secret);
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
