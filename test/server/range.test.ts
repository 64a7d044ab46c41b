import { describe, expect, it } from 'vitest';
import { parseRange, type RangeRequest } from '../../src/server/range.js';

const SIZE = 100;

describe('parseRange', () => {
  const cases: [string | undefined, number, RangeRequest['kind'], [number, number]?][] = [
    [undefined, SIZE, 'full'],
    ['bytes=0-0', SIZE, 'partial', [0, 0]],
    ['bytes=99-99', SIZE, 'partial', [99, 99]],
    ['bytes=10-19', SIZE, 'partial', [10, 19]],
    ['bytes=90-', SIZE, 'partial', [90, 99]],
    ['bytes=90-1000', SIZE, 'partial', [90, 99]],
    ['bytes=-10', SIZE, 'partial', [90, 99]],
    ['bytes=-1000', SIZE, 'partial', [0, 99]],
    ['bytes=0-', SIZE, 'partial', [0, 99]],
    ['bytes=100-', SIZE, 'unsatisfiable'],
    ['bytes=100-200', SIZE, 'unsatisfiable'],
    ['bytes=-0', SIZE, 'unsatisfiable'],
    ['bytes=5-4', SIZE, 'unsatisfiable'],
    ['bytes=0-1,5-6', SIZE, 'unsatisfiable'],
    ['bytes=-', SIZE, 'unsatisfiable'],
    ['bytes=a-b', SIZE, 'unsatisfiable'],
    ['items=0-1', SIZE, 'unsatisfiable'],
    ['bytes=0-0', 0, 'unsatisfiable'],
    ['bytes=-5', 0, 'unsatisfiable'],
    ['bytes=0-', 1, 'partial', [0, 0]],
  ];
  it.each(cases)('%s of %i bytes is %s', (header, size, kind, span) => {
    const range = parseRange(header, size);
    expect(range.kind).toBe(kind);
    if (span) expect(range).toEqual({ kind: 'partial', start: span[0], end: span[1] });
  });
});
