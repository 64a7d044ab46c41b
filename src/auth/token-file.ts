import { jwtProblem, looksLikeJwt } from './token-info.js';

/**
 * A bearer token as RFC 6750 spells it (`b64token`): JWTs and AIStore tokens fit, and anything else —
 * a stray HTML page, a half-copied line, two tokens on two lines — is rejected rather than sent.
 */
const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * Why a token was rejected. Messages never quote the content: it may be most of a secret.
 */
export class InvalidTokenError extends Error {
  override readonly name = 'InvalidTokenError';
}

/** Checks an already-trimmed token (inline, from the environment, or from a file). */
export function validateToken(token: string): string {
  if (token.length === 0) throw new InvalidTokenError('empty token');
  if (/\s/.test(token)) throw new InvalidTokenError('token contains whitespace or several lines');
  if (!BEARER_TOKEN.test(token)) throw new InvalidTokenError('token contains characters not allowed in a bearer token');
  // A JWT caught half-written is still a valid-looking bearer token; only its structure tells.
  const problem = looksLikeJwt(token) ? jwtProblem(token) : undefined;
  if (problem !== undefined) throw new InvalidTokenError(problem);
  return token;
}

/**
 * A token file holds AIStore's JSON `{"token":"…"}` (what `ais auth login` writes) or the raw token
 * (a Kubernetes Secret key); surrounding whitespace is trimmed.
 */
export function parseTokenFile(content: string): string {
  const trimmed = content.trim();
  if (trimmed.length === 0) throw new InvalidTokenError('file is empty');
  if (!trimmed.startsWith('{')) return validateToken(trimmed);
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    // JSON.parse's own message quotes the input, so it is not passed on.
    throw new InvalidTokenError('file starts like JSON but does not parse (half-written?)');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new InvalidTokenError('JSON file is not an object with a "token" field');
  }
  const token = (parsed as Record<string, unknown>).token;
  if (typeof token !== 'string') throw new InvalidTokenError('JSON file has no string "token" field');
  return validateToken(token.trim());
}
