import type { RejectionCause } from './rejection-cause.js';

/**
 * Typed failures of the object store. `fs/errno.ts` is the one place that maps them to errno.
 * `retryable` tells the retry policy whether an idempotent call may be tried again.
 */
export type StoreErrorCode =
  | 'NOT_FOUND'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'RANGE_NOT_SATISFIABLE'
  | 'BAD_REQUEST'
  | 'CONFLICT'
  | 'TOO_MANY_REQUESTS'
  | 'SERVER_ERROR'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'ABORTED'
  | 'PROTOCOL';

export interface StoreErrorDetails {
  status?: number;
  /** AIStore's `tcode`, e.g. `ErrNotFound`, when the server sent one. */
  tcode?: string;
  cause?: unknown;
}

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly status: number | undefined;
  readonly tcode: string | undefined;

  constructor(code: StoreErrorCode, message: string, details: StoreErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = details.status;
    this.tcode = details.tcode;
  }

  get retryable(): boolean {
    return (
      this.code === 'NETWORK' ||
      this.code === 'TIMEOUT' ||
      this.code === 'TOO_MANY_REQUESTS' ||
      (this.code === 'SERVER_ERROR' && this.status !== 501)
    );
  }
}

export class NotFoundError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('NOT_FOUND', message, details); }
}
export class UnauthorizedError extends StoreError {
  /** Why the credentials were refused, once the client has given up on them (see BucketClient). */
  readonly rejection: RejectionCause | undefined;
  constructor(message: string, details?: StoreErrorDetails & { readonly rejection?: RejectionCause }) {
    super('UNAUTHORIZED', message, details);
    this.rejection = details?.rejection;
  }
}
export class ForbiddenError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('FORBIDDEN', message, details); }
}
export class RangeNotSatisfiableError extends StoreError {
  /** Object size from `Content-Range: bytes * /<size>`, when the server sent it. */
  readonly objectSize: number | undefined;
  constructor(message: string, objectSize?: number, details?: StoreErrorDetails) {
    super('RANGE_NOT_SATISFIABLE', message, details);
    this.objectSize = objectSize;
  }
}
export class BadRequestError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('BAD_REQUEST', message, details); }
}
export class ConflictError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('CONFLICT', message, details); }
}
export class TooManyRequestsError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('TOO_MANY_REQUESTS', message, details); }
}
export class ServerError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('SERVER_ERROR', message, details); }
}
/** The store computed another checksum than the one sent: the same bytes sent again would fail the same way. */
export class ChecksumMismatchError extends ServerError {
  override get retryable(): boolean {
    return false;
  }
}
export class NetworkError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('NETWORK', message, details); }
}
export class TimeoutError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('TIMEOUT', message, details); }
}
export class AbortedError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('ABORTED', message, details); }
}
export class ProtocolError extends StoreError {
  constructor(message: string, details?: StoreErrorDetails) { super('PROTOCOL', message, details); }
}
