import { createHash } from 'node:crypto';

/** What may be said about a token in logs and metrics: enough to tell two tokens apart, nothing to reuse. */
export interface TokenInfo {
  readonly length: number;
  /** First 8 hex digits of the SHA-256 of the token. */
  readonly sha256Prefix: string;
  /** The JWT's `exp`, read without verifying the signature (the store verifies); absent for other tokens. */
  readonly expiresAt?: Date;
}

type JsonObject = Readonly<Record<string, unknown>>;

/** Signature sizes of the JWS algorithms whose signatures have one fixed size (RFC 7518, RFC 8037). */
const SIGNATURE_BYTES: Readonly<Record<string, number>> = { HS256: 32, HS384: 48, HS512: 64, ES256: 64, ES384: 96, ES512: 132, EdDSA: 64 };
const BASE64URL = /^[A-Za-z0-9_-]*$/;
/** A JWE (RFC 7516 compact form) has five parts: header, key, IV, ciphertext, tag. */
const JWE_PARTS = 5;
const JWS_PARTS = 3;

/** The text of one base64url part; undefined when it is not base64url or not text (control characters, invalid UTF-8). */
function decodedText(part: string): string | undefined {
  // A length of 4n+1 cannot come out of any byte string: such a part was cut short.
  if (!BASE64URL.test(part) || part.length % 4 === 1) return undefined;
  const text = Buffer.from(part, 'base64url').toString('utf8');
  return /[\u0000-\u001f\u007f\ufffd]/.test(text) ? undefined : text;
}

function decodedObject(part: string): JsonObject | undefined {
  const text = decodedText(part);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a token is meant as a JWT: its first part decodes to readable text starting with `{"` (a JSON
 * header), which a random opaque token all but never does. A JWT cut anywhere, even inside its header,
 * still looks like one.
 */
export function looksLikeJwt(token: string): boolean {
  const firstPart = token.split('.', 1)[0] ?? '';
  // Only the whole base64 quads: a cut in the middle of one must not hide the header.
  return decodedText(firstPart.slice(0, firstPart.length - (firstPart.length % 4)))?.startsWith('{"') === true;
}

/**
 * Why a JWT-looking token cannot be a whole JWT (a file caught half-written), or undefined when its
 * header and payload decode to JSON and its signature has the size its algorithm gives. The reason
 * never quotes the token.
 */
export function jwtProblem(token: string): string | undefined {
  const parts = token.split('.');
  const header = decodedObject(parts[0] ?? '');
  if (header === undefined) return 'looks like a JWT but its header does not decode (truncated?)';
  if (parts.length === JWE_PARTS && typeof header.enc === 'string') return undefined;
  if (parts.length !== JWS_PARTS) return `looks like a JWT but has ${parts.length} parts, not ${JWS_PARTS} (truncated?)`;
  if (decodedObject(parts[1] ?? '') === undefined) return 'looks like a JWT but its payload does not decode (truncated?)';
  if (typeof header.alg !== 'string') return 'looks like a JWT but its header names no "alg"';
  if (header.alg === 'none') return undefined;
  const signature = parts[2] ?? '';
  if (signature === '' || !BASE64URL.test(signature) || signature.length % 4 === 1) return 'looks like a JWT but its signature is missing or cut short';
  const expectedBytes = SIGNATURE_BYTES[header.alg];
  if (expectedBytes !== undefined && Buffer.from(signature, 'base64url').length !== expectedBytes) {
    return `looks like a JWT but its ${header.alg} signature is not ${expectedBytes} bytes (truncated?)`;
  }
  return undefined;
}

function jwtExpiry(token: string): Date | undefined {
  const parts = token.split('.');
  if (parts.length !== JWS_PARTS) return undefined;
  const exp = decodedObject(parts[1] ?? '')?.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? new Date(exp * 1000) : undefined;
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
