import { describe, expect, it } from 'vitest';
import { parseDurationMs } from '../../src/cli/duration.js';
import { HttpError } from '../../src/server/errors.js';
import { parseListMessage } from '../../src/server/list-message.js';
import { formatListTime } from '../../src/server/object-props.js';
import { targetOriginFor } from '../../src/server/redirect.js';
import { routeOf } from '../../src/server/router.js';
import { decodeSegment } from '../../src/server/safe-path.js';

describe('parseDurationMs', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['15m', 900_000],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2d', 172_800_000],
    ['0', 0],
    [' 250 ', 250],
  ])('%s = %i ms', (text, ms) => expect(parseDurationMs(text)).toBe(ms));
  it.each(['', 'abc', '1x', '-1s', '1h30m', 's'])('rejects %j, naming it', (text) => {
    expect(() => parseDurationMs(text)).toThrow(`"${text}"`);
  });
});

describe('parseListMessage', () => {
  it('reads every field, flags as a decimal string', () => {
    const request = parseListMessage({
      action: 'list',
      name: '',
      value: { uuid: 'u', props: 'name,size,atime', prefix: 'a/', start_after: 'a/b', continuation_token: 't', flags: '2048', pagesize: 5, time_format: 'X' },
    });
    expect(request).toMatchObject({ uuid: 'u', prefix: 'a/', startAfter: 'a/b', continuationToken: 't', flags: 2048, pageSize: 5, timeFormat: 'X' });
    expect([...request.props].sort()).toEqual(['atime', 'name', 'size']);
  });
  it('defaults: pagesize 0 and absent mean 10000, props name+size, value null', () => {
    expect(parseListMessage({ action: 'list', value: { pagesize: 0 } }).pageSize).toBe(10_000);
    const request = parseListMessage({ action: 'list', value: null });
    expect(request).toMatchObject({ pageSize: 10_000, flags: 0, prefix: '', uuid: '' });
    expect([...request.props].sort()).toEqual(['name', 'size']);
    expect(parseListMessage(undefined).pageSize).toBe(10_000);
  });
  it.each([
    [{ action: 'list', value: { bogus: 1 } }, 'unknown field "bogus"'],
    [{ action: 'list', value: { flags: 'x' } }, 'flags'],
    [{ action: 'list', value: { pagesize: -1 } }, 'pagesize'],
    [{ action: 'list', value: { prefix: 3 } }, 'prefix'],
    [{ action: 'destroy', value: null }, 'unsupported action'],
    [[1, 2], 'not a JSON object'],
  ])('rejects %j with 400', (body, message) => {
    let caught: unknown;
    try {
      parseListMessage(body);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HttpError);
    expect((caught as HttpError).status).toBe(400);
    expect((caught as HttpError).message).toContain(message);
  });
});

describe('decodeSegment', () => {
  it.each([
    ['a%20b', 'a b'],
    ['100%25', '100%'],
    ['%23', '#'],
    ['%3F', '?'],
    ['%C3%BC', 'ü'],
    ['..a', '..a'],
  ])('%s decodes once to %j', (raw, decoded) => expect(decodeSegment(raw, 'x')).toBe(decoded));
  it.each(['..', '.', '', '%2e%2e', '%2E', 'a%2fb', 'a%2Fb', 'a%5cb', 'a\\b', 'a%00', '%zz', '.bucketfs-put-1'])('refuses %j with 400', (raw) => {
    expect(() => decodeSegment(raw, 'x')).toThrow(HttpError);
  });
});

describe('formatListTime', () => {
  const ns = 1_700_000_000_123_456_789n;
  it('RFC 3339 with nanoseconds when asked', () => {
    expect(formatListTime(ns, '2006-01-02T15:04:05.999999999Z07:00')).toBe('2023-11-14T22:13:20.123456789Z');
    expect(formatListTime(1_700_000_000_000_000_000n, '2006-01-02T15:04:05.999999999Z07:00')).toBe('2023-11-14T22:13:20Z');
  });
  it('RFC 822 by default', () => expect(formatListTime(ns, undefined)).toBe('14 Nov 23 22:13 UTC'));
});

describe('routeOf', () => {
  it.each([
    ['/v1/health', { kind: 'health' }],
    ['/v1/health/', { kind: 'health' }],
    ['/v1/buckets', { kind: 'bucket-list' }],
    ['/v1/buckets/', { kind: 'bucket-list' }],
    ['/v1/buckets/b', { kind: 'bucket', bucket: 'b' }],
    ['/v1/buckets/b/', { kind: 'bucket', bucket: 'b' }],
    ['/v1/objects/b/a/b%20c', { kind: 'object', address: { bucket: 'b', segments: ['a', 'b c'], isMarker: false } }],
    ['/v1/objects/b/dir/', { kind: 'object', address: { bucket: 'b', segments: ['dir'], isMarker: true } }],
    ['/v1/objects/b/%25', { kind: 'object', address: { bucket: 'b', segments: ['%'], isMarker: false } }],
  ])('%s', (path, route) => expect(routeOf(path)).toEqual(route));
  it.each([
    ['/v2/health', 404],
    ['/v1/nothing', 404],
    ['/v1/buckets/b/extra', 404],
    ['/v1/objects/b', 400],
    ['/v1/objects/b/', 400],
    ['/v1/objects/.hidden/x', 400],
    ['/v1/objects/b/a//c', 400],
  ])('%s → %i', (path, status) => {
    expect(() => routeOf(path)).toThrow(expect.objectContaining({ status }) as unknown as Error);
  });
});

describe('targetOriginFor', () => {
  it.each([
    ['127.0.0.1:5000', 'http://127.0.0.1:6000', 'http://127.0.0.1:6000'],
    ['myhost:5000', 'http://0.0.0.0:6000', 'http://myhost:6000'],
    ['[::1]:5000', 'http://[::]:6000', 'http://[::1]:6000'],
    ['localhost', 'http://0.0.0.0:6000', 'http://localhost:6000'],
    [undefined, 'http://127.0.0.1:6000', 'http://127.0.0.1:6000'],
    ['evil/host@x', 'http://127.0.0.1:6000', 'http://127.0.0.1:6000'],
  ])('Host %s, target %s → %s', (host, target, origin) => expect(targetOriginFor(host, target)).toBe(origin));
});
