import {
  AbortedError,
  BadRequestError,
  ChecksumMismatchError,
  ConflictError,
  ForbiddenError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  RangeNotSatisfiableError,
  ServerError,
  StoreError,
  TimeoutError,
  TooManyRequestsError,
  UnauthorizedError,
} from './errors.js';

/** What AIStore says about a failure: the JSON body of an error response, or the `Hdr-Error` header of a HEAD. */
export interface AisErrorInfo {
  readonly message: string | undefined;
  readonly tcode: string | undefined;
}

/** Longest server text quoted in an error message; a proxy's HTML error page should not flood the logs. */
const MAX_QUOTED_CHARS = 300;

function clip(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > MAX_QUOTED_CHARS ? `${oneLine.slice(0, MAX_QUOTED_CHARS)}…` : oneLine;
}

/**
 * Reads `{"message","tcode","status",…}`. Only `message` and `tcode` are kept: the other fields (`url_path`,
 * `remote_addr`, `caller`, `node`) describe the cluster, not the failure. Non-JSON text becomes the message.
 */
export function parseAisError(text: string | undefined): AisErrorInfo {
  if (text === undefined || text.trim() === '') return { message: undefined, tcode: undefined };
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object') {
      const { message, tcode } = parsed as Record<string, unknown>;
      return {
        message: typeof message === 'string' && message !== '' ? clip(message) : undefined,
        tcode: typeof tcode === 'string' && tcode !== '' ? tcode : undefined,
      };
    }
  } catch {
    // Not JSON: a proxy or load balancer answered; quote its text.
  }
  return { message: clip(text), tcode: undefined };
}

/**
 * The typed error for an HTTP failure status. `what` names the call (`GET ais://b/key`); the message adds the
 * status and the server's own words, never a header.
 */
export function statusError(status: number, what: string, info: AisErrorInfo, objectSize?: number): StoreError {
  const message = `${what}: ${status}${info.message === undefined ? '' : ` ${info.message}`}`;
  const details = { status, tcode: info.tcode };
  switch (status) {
    case 400:
      return new BadRequestError(message, details);
    case 401:
      return new UnauthorizedError(message, details);
    case 403:
      return new ForbiddenError(message, details);
    case 404:
      return new NotFoundError(message, details);
    case 409:
      return new ConflictError(message, details);
    case 416:
      return new RangeNotSatisfiableError(message, objectSize, details);
    case 429:
      return new TooManyRequestsError(message, details);
    default:
      if (info.tcode === CHECKSUM_MISMATCH_TCODE) return new ChecksumMismatchError(message, details);
      if (status >= 500) return new ServerError(message, details);
      return new ProtocolError(`${message} (unexpected status)`, details);
  }
}

/** AIStore's type code of a checksum mismatch (`cmn/cos` `ErrBadCksum`), a 500. */
const CHECKSUM_MISMATCH_TCODE = 'ErrBadCksum';

function errorCode(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const ABORT_CODES = new Set(['UND_ERR_ABORTED', 'ABORT_ERR']);

/**
 * The typed error for a failure below HTTP (connect, socket, timeout, abort) while sending a request or reading
 * its body. A StoreError passes through unchanged. The cause is kept for debugging; its text is not quoted,
 * since some causes carry request options.
 */
export function transportError(error: unknown, what: string, signal: AbortSignal | undefined): StoreError {
  if (error instanceof StoreError) return error;
  const code = errorCode(error);
  const name = error instanceof Error ? error.name : undefined;
  if (signal?.aborted || (code !== undefined && ABORT_CODES.has(code)) || name === 'AbortError') {
    return new AbortedError(`${what}: aborted`, { cause: error });
  }
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new TimeoutError(`${what}: ${timeoutKind(code)} timed out`, { cause: error });
  }
  return new NetworkError(`${what}: ${code ?? name ?? 'connection failed'}`, { cause: error });
}

function timeoutKind(code: string): string {
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return 'waiting for response headers';
  return 'reading the response body';
}
