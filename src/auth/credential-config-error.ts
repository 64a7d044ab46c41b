/**
 * Credentials configured explicitly that cannot be used at start (a token file missing, empty or
 * garbage; a malformed header). The message names the path or header and the reason, never a secret.
 */
export class CredentialConfigError extends Error {
  override readonly name = 'CredentialConfigError';
}
