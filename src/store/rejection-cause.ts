/**
 * Why the store refused a request's credentials (401), as far as the client can tell from what it sent.
 * It never holds the token: only whether one was sent and, for a JWT, its `exp`.
 */
export type RejectionCause =
  | { readonly kind: 'no-token' }
  | { readonly kind: 'expired'; readonly expiresAt: Date }
  | { readonly kind: 'rejected' };

/** One short phrase per cause, the same in mount errors, `/healthz` and `bucketfs status`. */
export function describeRejection(cause: RejectionCause): string {
  switch (cause.kind) {
    case 'no-token':
      return 'no token configured';
    case 'expired':
      return `token expired at ${cause.expiresAt.toISOString()}`;
    case 'rejected':
      return 'signature or token rejected';
  }
}
