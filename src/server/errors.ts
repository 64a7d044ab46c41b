import type { IncomingMessage, ServerResponse } from 'node:http';

/** A failure answered with AIStore's JSON error body and this status. */
export class HttpError extends Error {
  readonly status: number;
  /** AIStore's type code (`ErrNotFound`, …); optional on the wire. */
  readonly tcode: string | undefined;
  /** Extra response headers (e.g. `Content-Range` on 416). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, options: { tcode?: string; headers?: Record<string, string> } = {}) {
    super(message);
    this.name = new.target.name;
    this.status = status;
    this.tcode = options.tcode;
    this.headers = options.headers ?? {};
  }
}

export class BadRequestError extends HttpError {
  constructor(message: string) { super(400, message, { tcode: 'ErrBadRequest' }); }
}
export class NotFoundError extends HttpError {
  constructor(message: string) { super(404, message, { tcode: 'ErrNotFound' }); }
}
export class UnauthorizedError extends HttpError {
  constructor(message: string) { super(401, message, { tcode: 'ErrUnauthorized' }); }
}
export class ConflictError extends HttpError {
  constructor(message: string) { super(409, message, { tcode: 'ErrConflict' }); }
}
export class MethodNotAllowedError extends HttpError {
  constructor(method: string, path: string) { super(405, `${method} is not supported on ${path}`, { tcode: 'ErrMethodNotAllowed' }); }
}
export class RangeNotSatisfiableError extends HttpError {
  constructor(message: string, sizeBytes: number) {
    super(416, message, { tcode: 'ErrRangeNotSatisfiable', headers: { 'Content-Range': `bytes */${sizeBytes}` } });
  }
}

/** AIStore's error body (`cmn/err.go`). */
export interface ErrorBody {
  tcode?: string;
  message: string;
  method: string;
  url_path: string;
  remote_addr: string;
  caller: string;
  node: string;
  status: number;
}

export function errorBody(request: IncomingMessage, error: HttpError, node: string): ErrorBody {
  return {
    ...(error.tcode ? { tcode: error.tcode } : {}),
    message: error.message,
    method: request.method ?? '',
    url_path: (request.url ?? '').split('?')[0] ?? '',
    remote_addr: request.socket.remoteAddress ?? '',
    caller: '',
    node,
    status: error.status,
  };
}

/** Header values must be Latin-1; JSON's `\u` escapes keep a unicode object name intact and legal. */
export function headerSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes the error: JSON body, or on HEAD (no body) the same JSON in `Hdr-Error`. */
export function sendError(request: IncomingMessage, response: ServerResponse, error: HttpError, node: string): void {
  if (response.headersSent) {
    response.destroy(error);
    return;
  }
  const body = errorBody(request, error, node);
  for (const [name, value] of Object.entries(error.headers)) response.setHeader(name, value);
  if (request.method === 'HEAD') {
    response.writeHead(error.status, { 'Hdr-Error': headerSafeJson(body) });
    response.end();
    return;
  }
  const text = JSON.stringify(body);
  response.writeHead(error.status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}

/** Maps a filesystem error to the answer a client should see; anything unknown is a 500. */
export function fromFsError(error: unknown, what: string): HttpError {
  if (error instanceof HttpError) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return new NotFoundError(`${what} does not exist`);
    case 'ENOTDIR':
    case 'EISDIR':
    case 'EEXIST':
    case 'ENOTEMPTY':
      return new ConflictError(`${what} clashes with an existing object or folder (${code})`);
    case 'ENAMETOOLONG':
      return new BadRequestError(`${what}: name too long`);
    case 'ELOOP':
      return new BadRequestError(`${what}: too many symbolic links`);
    default:
      return new HttpError(500, `${what}: ${error instanceof Error ? error.message : String(error)}`, { tcode: 'ErrInternal' });
  }
}
