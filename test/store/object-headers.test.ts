import { describe, expect, it } from 'vitest';
import { objectInfoFromHeaders, parseAtimeHeaderMs, parseFormattedTimeMs, utf8HeaderText } from '../../src/store/object-headers.js';

describe('parseAtimeHeaderMs', () => {
  it.each([
    ['1700000000123456789', 1700000000123.4568],
    ['0', 0],
    [undefined, 0],
    ['', 0],
    ['garbage', 0],
    ['2026-01-02T15:04:05Z', Date.UTC(2026, 0, 2, 15, 4, 5)],
  ])('%s', (header, ms) => {
    expect(parseAtimeHeaderMs(header)).toBeCloseTo(ms, 3);
  });
});

describe('parseFormattedTimeMs', () => {
  it.each([
    ['2026-01-02T15:04:05.123456789Z', Date.UTC(2026, 0, 2, 15, 4, 5, 123)],
    ['2026-01-02T15:04:05+02:00', Date.UTC(2026, 0, 2, 13, 4, 5)],
    ['02 Jan 26 15:04 UTC', Date.UTC(2026, 0, 2, 15, 4)],
    ['Fri, 02 Jan 2026 15:04:05 GMT', Date.UTC(2026, 0, 2, 15, 4, 5)],
    ['', undefined],
    [undefined, undefined],
    ['not a date', undefined],
  ])('%s', (text, ms) => {
    expect(parseFormattedTimeMs(text)).toBe(ms);
  });
});

describe('objectInfoFromHeaders', () => {
  it('reads the Ais-* properties', () => {
    expect(
      objectInfoFromHeaders('a/b', {
        'content-length': '1234',
        'ais-version': '3',
        'ais-checksum-type': 'xxhash2',
        'ais-checksum-value': 'abc123',
        'ais-atime': '1700000000000000000',
        etag: '"e"',
        'ais-custom-md': ['k=v', 'x=y'],
      }),
    ).toEqual({
      name: 'a/b',
      size: 1234,
      version: '3',
      checksumType: 'xxhash2',
      checksumValue: 'abc123',
      mtimeMs: 1_700_000_000_000,
      etag: '"e"',
    });
  });

  it('takes a missing Content-Length (HEAD of a 0-byte object) as size 0', () => {
    expect(objectInfoFromHeaders('empty', { 'ais-version': '1' })).toMatchObject({ size: 0, mtimeMs: 0, etag: undefined });
  });

  it('treats checksum type none as no checksum', () => {
    expect(objectInfoFromHeaders('k', { 'ais-checksum-type': 'none' }).checksumType).toBeUndefined();
  });
});

describe('utf8HeaderText', () => {
  const asLatin1 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');
  it.each([
    [undefined, undefined],
    ['plain ascii', 'plain ascii'],
    [asLatin1('нет/файла 日本'), 'нет/файла 日本'],
    [asLatin1('ünï'), 'ünï'],
    ['caf\xe9', 'caf\xe9'],
  ])('%s', (raw, text) => {
    expect(utf8HeaderText(raw)).toBe(text);
  });
});
