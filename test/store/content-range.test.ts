import { describe, expect, it } from 'vitest';
import { parseContentRange, rangeHeader } from '../../src/store/content-range.js';

describe('rangeHeader', () => {
  it.each([
    [undefined, undefined],
    [{ offset: 0 }, undefined],
    [{ offset: 5 }, 'bytes=5-'],
    [{ offset: 0, length: 1 }, 'bytes=0-0'],
    [{ offset: 10, length: 90 }, 'bytes=10-99'],
  ])('%j → %s', (range, header) => {
    expect(rangeHeader(range)).toBe(header);
  });
});

describe('parseContentRange', () => {
  it.each([
    ['bytes 0-0/1', { first: 0, last: 0, size: 1 }],
    ['bytes 10-99/1000', { first: 10, last: 99, size: 1000 }],
    ['bytes 10-99/*', { first: 10, last: 99, size: undefined }],
    ['bytes */1000', { first: undefined, last: undefined, size: 1000 }],
    ['bytes */0', { first: undefined, last: undefined, size: 0 }],
    ['BYTES 1-2/3', { first: 1, last: 2, size: 3 }],
    [undefined, undefined],
    ['', undefined],
    ['bytes */*', undefined],
    ['bytes 5-4/10', undefined],
    ['bytes 0-10/10', undefined],
    ['items 0-1/2', undefined],
    ['bytes 0-1/99999999999999999999', { first: 0, last: 1, size: undefined }],
    ['bytes -1-2/3', undefined],
  ])('%s', (header, parsed) => {
    expect(parseContentRange(header)).toEqual(parsed);
  });
});
