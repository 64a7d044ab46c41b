import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { headersFromFlags, parseHeaderFlag, parseHeadersFile, HeaderSyntaxError } from '../../src/auth/headers-file.js';
import { describeToken } from '../../src/auth/token-info.js';
import { InvalidTokenError, parseTokenFile } from '../../src/auth/token-file.js';
import { signedJwt } from './auth-fixture.js';

/** An HS256-shaped token: JSON header and payload, a 32-byte signature (not a valid one). */
const JWT_LIKE = `eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.${Buffer.alloc(32, 7).toString('base64url')}`;
const base64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('parseTokenFile', () => {
  it.each([
    ['raw token', 'abc.DEF-123_~+/=', 'abc.DEF-123_~+/='],
    ['raw token with surrounding whitespace and newline', '  \n\tabc123\n\n', 'abc123'],
    ['raw JWT', `${JWT_LIKE}\n`, JWT_LIKE],
    ['AIStore JSON', `{"token":"${JWT_LIKE}"}`, JWT_LIKE],
    ['AIStore JSON, pretty and padded', `\n{\n  "token": " ${JWT_LIKE} ",\n  "other": 1\n}\n`, JWT_LIKE],
    ['CRLF line end', 'abc123\r\n', 'abc123'],
  ])('accepts %s', (_name, content, expected) => {
    expect(parseTokenFile(content)).toBe(expected);
  });

  it.each([
    ['empty', '', /empty/],
    ['whitespace only', ' \n\t\n', /empty/],
    ['half-written JSON', '{"token":"eyJhbGciOiJI', /does not parse/],
    ['JSON without token', '{"user":"x"}', /no string "token"/],
    ['JSON with numeric token', '{"token":42}', /no string "token"/],
    ['JSON with empty token', '{"token":"  "}', /empty token/],
    ['JSON array', '[1]', /characters not allowed/],
    ['JSON null-ish object', '{}', /no string "token"/],
    ['multiline garbage', 'abc\ndef', /whitespace or several lines/],
    ['token with space', 'Bearer abc', /whitespace/],
    ['HTML page', '<html>forbidden</html>', /characters not allowed/],
    ['padding in the middle', 'ab=cd', /characters not allowed/],
  ])('rejects %s', (_name, content, message) => {
    expect(() => parseTokenFile(content)).toThrow(InvalidTokenError);
    expect(() => parseTokenFile(content)).toThrow(message);
  });

  it('refuses a raw JWT cut anywhere (a file caught half-written), and keeps no part of it in the reason', async () => {
    const token = await signedJwt(Math.floor(Date.now() / 1000) + 3600);
    expect(parseTokenFile(token)).toBe(token);
    const [header = '', payload = ''] = token.split('.');
    const cuts = [12, header.length - 3, header.length, header.length + 1, header.length + 30, header.length + 1 + payload.length, token.length - 20, token.length - 1];
    for (const cut of [...cuts, Math.round((token.length * 100) / 177)]) {
      const caught = (() => {
        try {
          parseTokenFile(token.slice(0, cut));
          return undefined;
        } catch (error) {
          return error as Error;
        }
      })();
      expect(caught, `cut at ${cut} of ${token.length}`).toBeInstanceOf(InvalidTokenError);
      expect(caught?.message).toMatch(/looks like a JWT/);
      expect(caught?.message).not.toContain(token.slice(0, 8));
    }
    expect(() => parseTokenFile(JSON.stringify({ token: token.slice(0, 100) }))).toThrow(/looks like a JWT/);
  });

  it.each([
    ['an opaque token', 'opaque-0123456789abcdefABCDEF_~'],
    ['an opaque token with dots', 'abc.def.ghi'],
    ['a random token that starts like base64 JSON but does not decode to text', Buffer.concat([Buffer.from('{"'), Buffer.from([0xff, 0xfe, 0x01, 0x02])]).toString('base64url')],
    ['an RS256 JWT (signature size depends on the key)', `${base64url({ alg: 'RS256' })}.${base64url({ sub: 'x' })}.${Buffer.alloc(256, 1).toString('base64url')}`],
    ['an ES256 JWT', `${base64url({ alg: 'ES256', typ: 'JWT' })}.${base64url({ exp: 1 })}.${Buffer.alloc(64, 2).toString('base64url')}`],
    ['a JWE (five parts)', `${base64url({ alg: 'dir', enc: 'A256GCM' })}..${Buffer.alloc(12).toString('base64url')}.${Buffer.alloc(40).toString('base64url')}.${Buffer.alloc(16).toString('base64url')}`],
  ])('still accepts %s', (_name, token) => {
    expect(parseTokenFile(token)).toBe(token);
  });

  it.each([
    ['a header cut short', `${base64url({ alg: 'HS256' }).slice(0, -2)}.${base64url({})}.${Buffer.alloc(32).toString('base64url')}`, /header does not decode/],
    ['a payload that is not JSON', `${base64url({ alg: 'HS256' })}.${Buffer.from('not json').toString('base64url')}.${Buffer.alloc(32).toString('base64url')}`, /payload does not decode/],
    ['no alg', `${base64url({ typ: 'JWT' })}.${base64url({})}.${Buffer.alloc(32).toString('base64url')}`, /no "alg"/],
    ['an empty signature', `${base64url({ alg: 'HS256' })}.${base64url({})}.`, /signature is missing/],
    ['four parts', `${JWT_LIKE}.x`, /has 4 parts, not 3/],
  ])('refuses a JWT with %s', (_name, token, message) => {
    expect(() => parseTokenFile(token)).toThrow(message);
  });

  it('never quotes the content in its errors', () => {
    const secretish = '{"token":"supersecretvalue';
    try {
      parseTokenFile(secretish);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).not.toContain('supersecret');
    }
  });
});

describe('parseHeadersFile', () => {
  it.each([
    ['empty file', '', {}],
    ['comments and blanks', '# a comment\n\n   \n  # indented comment\n', {}],
    ['one header', 'X-Api-Key: abc', { 'X-Api-Key': 'abc' }],
    ['values keep inner colons and spaces, trimmed', 'X-Thing:  a: b c  \r\n', { 'X-Thing': 'a: b c' }],
    ['empty value', 'X-Empty:', { 'X-Empty': '' }],
    ['several, later duplicate (any case) wins', 'A: 1\nB: 2\na: 3\n', { B: '2', a: '3' }],
    ['token characters in names', "X-!#$%&'*+.^_`|~9: v", { "X-!#$%&'*+.^_`|~9": 'v' }],
    ['tab inside a value', 'X-Tab: a\tb', { 'X-Tab': 'a\tb' }],
  ])('parses %s', (_name, content, expected) => {
    expect(parseHeadersFile(content)).toEqual(expected);
  });

  it.each([
    ['no colon', 'X-Ok: 1\n# c\nnot a header line\n', 3, /line 3: expected "Name: value"/],
    ['no name', '\n: value', 2, /line 2: .*no name/],
    ['space in name', 'X Bad: v', 1, /line 1: header name/],
    ['non-ASCII name', 'X-Ünï: v', 1, /line 1: header name/],
    ['control character in value', 'X-A: a\u0001b', 1, /line 1: value of header X-A contains control/],
  ])('rejects %s, naming the line', (_name, content, lineNumber, message) => {
    let caught: unknown;
    try {
      parseHeadersFile(content);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HeaderSyntaxError);
    expect((caught as HeaderSyntaxError).lineNumber).toBe(lineNumber);
    expect((caught as Error).message).toMatch(message);
  });

  it('never quotes a value in its errors', () => {
    expect(() => parseHeadersFile('X-Secret: hunter2\u0000')).toThrow(/^line 1: value of header X-Secret contains control characters$/);
  });
});

describe('parseHeaderFlag', () => {
  it.each([
    ['X-Key: value', { name: 'X-Key', value: 'value' }],
    ['X-Key:value', { name: 'X-Key', value: 'value' }],
    ['  X-Key :  a:b  ', { name: 'X-Key', value: 'a:b' }],
  ])('parses %j', (flag, expected) => {
    expect(parseHeaderFlag(flag)).toEqual(expected);
  });

  it.each([
    ['X-Key value', /no colon/],
    [': value', /no name/],
    ['X@Key: v', /header name/],
  ])('rejects %j', (flag, message) => {
    expect(() => parseHeaderFlag(flag)).toThrow(message);
  });
});

describe('headersFromFlags', () => {
  it('merges repeated flags, the later one winning in any case', () => {
    expect(headersFromFlags(['X-A: 1', 'X-B: 2', 'x-a: 3'])).toEqual({ 'X-B': '2', 'x-a': '3' });
    expect(headersFromFlags([])).toEqual({});
  });

  it('names a bad flag by position, not by value', () => {
    expect(() => headersFromFlags(['X-A: 1', 'secretvalue'])).toThrow(/^--header #2: expected "Name: value" \(no colon\)$/);
  });
});

describe('describeToken', () => {
  it('gives length and a short hash of an opaque token, no expiry', () => {
    const token = 'opaque-token-123';
    expect(describeToken(token)).toEqual({
      length: token.length,
      sha256Prefix: createHash('sha256').update(token).digest('hex').slice(0, 8),
    });
  });

  it('reads a JWT exp without verifying it', async () => {
    const expSeconds = Math.floor(Date.now() / 1000) + 3600;
    const token = await signedJwt(expSeconds, 'a-secret-the-describer-never-knows-about');
    const info = describeToken(token);
    expect(info.length).toBe(token.length);
    expect(info.sha256Prefix).toMatch(/^[0-9a-f]{8}$/);
    expect(info.expiresAt?.getTime()).toBe(expSeconds * 1000);
  });

  it('has no expiry for a JWT-shaped token that does not decode', () => {
    expect(describeToken(JWT_LIKE.replace('eyJzdWIiOiJ4In0', 'bm90LWpzb24')).expiresAt).toBeUndefined();
  });

  it('tells two tokens apart', () => {
    expect(describeToken('token-a').sha256Prefix).not.toBe(describeToken('token-b').sha256Prefix);
  });
});
