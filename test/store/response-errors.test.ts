import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  BadRequestError,
  ConflictError,
  ForbiddenError,
  NetworkError,
  NotFoundError,
  ProtocolError,
  RangeNotSatisfiableError,
  ServerError,
  TimeoutError,
  TooManyRequestsError,
  UnauthorizedError,
} from '../../src/store/errors.js';
import { parseAisError, statusError, transportError } from '../../src/store/response-errors.js';

describe('parseAisError', () => {
  it.each([
    [
      '{"tcode":"ErrNotFound","message":"ais://b/k does not exist","method":"GET","url_path":"/v1/objects/b/k","remote_addr":"1.2.3.4","caller":"x","node":"t1","status":404}',
      { message: 'ais://b/k does not exist', tcode: 'ErrNotFound' },
    ],
    ['{"message":"bad\\nrequest","status":400}', { message: 'bad request', tcode: undefined }],
    ['{"status":500}', { message: undefined, tcode: undefined }],
    ['<html>Bad Gateway</html>', { message: '<html>Bad Gateway</html>', tcode: undefined }],
    ['', { message: undefined, tcode: undefined }],
    [undefined, { message: undefined, tcode: undefined }],
    ['"just a string"', { message: '"just a string"', tcode: undefined }],
  ])('%s', (text, info) => {
    expect(parseAisError(text)).toEqual(info);
  });

  it('clips a long text', () => {
    expect(parseAisError('x'.repeat(10_000)).message?.length).toBeLessThan(400);
  });
});

describe('statusError', () => {
  it.each([
    [400, BadRequestError],
    [401, UnauthorizedError],
    [403, ForbiddenError],
    [404, NotFoundError],
    [409, ConflictError],
    [416, RangeNotSatisfiableError],
    [429, TooManyRequestsError],
    [500, ServerError],
    [503, ServerError],
    [302, ProtocolError],
    [418, ProtocolError],
  ])('%i → %o', (status, type) => {
    const error = statusError(status, 'GET ais://b/k', { message: 'said the server', tcode: 'ErrX' });
    expect(error).toBeInstanceOf(type);
    expect(error.status).toBe(status);
    expect(error.tcode).toBe('ErrX');
    expect(error.message).toContain('GET ais://b/k');
    expect(error.message).toContain(String(status));
    expect(error.message).toContain('said the server');
  });

  it('keeps the object size of a 416', () => {
    const error = statusError(416, 'GET ais://b/k', { message: undefined, tcode: undefined }, 42);
    expect(error).toBeInstanceOf(RangeNotSatisfiableError);
    expect((error as RangeNotSatisfiableError).objectSize).toBe(42);
  });
});

function coded(code: string, name = 'Error'): Error {
  return Object.assign(new Error(`secret-bearing text ${code}`), { code, name });
}

describe('transportError', () => {
  it.each([
    [coded('UND_ERR_CONNECT_TIMEOUT', 'ConnectTimeoutError'), TimeoutError],
    [coded('UND_ERR_HEADERS_TIMEOUT', 'HeadersTimeoutError'), TimeoutError],
    [coded('UND_ERR_BODY_TIMEOUT', 'BodyTimeoutError'), TimeoutError],
    [coded('UND_ERR_ABORTED', 'RequestAbortedError'), AbortedError],
    [new DOMException('stop', 'AbortError'), AbortedError],
    [coded('ECONNREFUSED'), NetworkError],
    [coded('UND_ERR_SOCKET', 'SocketError'), NetworkError],
    [new Error('odd'), NetworkError],
    ['a string', NetworkError],
  ])('%o', (cause, type) => {
    const error = transportError(cause, 'GET ais://b/k', undefined);
    expect(error).toBeInstanceOf(type);
    expect(error.message).toContain('GET ais://b/k');
    expect(error.message).not.toContain('secret-bearing');
  });

  it('reports an aborted signal as aborted whatever undici threw', () => {
    const controller = new AbortController();
    controller.abort();
    expect(transportError(coded('UND_ERR_SOCKET'), 'GET x', controller.signal)).toBeInstanceOf(AbortedError);
  });

  it('passes store errors through', () => {
    const original = new NotFoundError('gone');
    expect(transportError(original, 'GET x', undefined)).toBe(original);
  });
});
