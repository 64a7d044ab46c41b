import { describe, expect, it } from 'vitest';
import { parseListResponse } from '../../src/store/list-request.js';

const mtimeOf = (atime: unknown) => parseListResponse(JSON.stringify({ uuid: 'u', continuation_token: '', entries: [{ name: 'a', atime }] })).entries[0]?.mtimeMs;

describe('list entry times', () => {
  it('reads each time as Date.parse does, to the millisecond', () => {
    const texts = [
      '2026-12-01T10:42:59.675923456Z',
      '2026-12-01T10:42:59.6Z',
      '2026-12-01T10:42:59.67Z',
      '2026-12-01T10:42:59.999Z',
      '2026-12-01T10:42:59Z',
      '2024-02-29T23:59:59.000000001Z',
      '2026-02-31T10:00:00Z',
      '1970-01-01T00:00:00Z',
      '0050-01-01T00:00:00Z',
      '2026-12-01T10:42:59.675+02:00',
      '2026-12-01T24:00:00Z',
      '2026-13-01T10:00:00Z',
      '2026-12-01T10:42:59.Z',
      '2026-12-01T10:42:5x.1Z',
      '01 Dec 26 10:42 UTC',
      'Tue, 01 Dec 2026 10:42:59 GMT',
    ];
    for (const text of texts) {
      const parsed = Date.parse(text);
      expect([text, mtimeOf(text)]).toEqual([text, Number.isNaN(parsed) ? undefined : parsed]);
    }
  });

  it('reads a page of times in a few minutes as Date.parse does, each minute read once and the rest by its seconds', () => {
    const atimes = ['2026-12-01T10:42:01.5Z', '2026-12-01T10:42:59.999999999Z', '2026-12-01T10:43:00Z', '2026-12-01T10:42:30Z', '2026-12-02T10:42:30Z', '2026-12-02T10:42:3xZ', '2027-12-02T10:42:30Z'];
    const text = JSON.stringify({ uuid: 'u', continuation_token: '', entries: atimes.map((atime, index) => ({ name: `n${index}`, atime })) });
    expect(parseListResponse(text).entries.map((entry) => entry.mtimeMs)).toEqual(atimes.map((atime) => (Number.isNaN(Date.parse(atime)) ? undefined : Date.parse(atime))));
  });

  it('has no time for an empty or missing atime', () => {
    expect(mtimeOf('')).toBeUndefined();
    expect(mtimeOf(undefined)).toBeUndefined();
    expect(mtimeOf(5)).toBeUndefined();
  });
});
