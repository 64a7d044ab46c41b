import { describe, expect, it } from 'vitest';
import {
  decodeCursor,
  encodeCursor,
  LIST_TIME_FORMAT,
  ListResponseError,
  listObjectsBody,
  parseBucketList,
  parseListResponse,
} from '../../src/store/list-request.js';

describe('listObjectsBody', () => {
  it('asks for a recursive first page with flags as a decimal string', () => {
    expect(JSON.parse(listObjectsBody({ prefix: 'train/', pageSize: 5 }))).toEqual({
      action: 'list',
      name: '',
      value: {
        prefix: 'train/',
        props: 'name,size,version,checksum,atime',
        time_format: LIST_TIME_FORMAT,
        flags: '0',
        pagesize: 5,
        uuid: '',
        continuation_token: '',
      },
    });
  });

  it('sets LsNoRecursion for a one-level listing and sends uuid and token back', () => {
    const cursor = encodeCursor({ uuid: 'u-1', token: 'next-key' });
    const value = JSON.parse(listObjectsBody({ recursive: false, continuationToken: cursor, startAfter: 'a' })).value;
    expect(value).toMatchObject({ flags: '2048', uuid: 'u-1', continuation_token: 'next-key', start_after: 'a' });
    expect(value).not.toHaveProperty('pagesize');
    expect(value).not.toHaveProperty('prefix');
  });
});

describe('cursor', () => {
  it.each([
    [{ uuid: 'u', token: 't' }],
    [{ uuid: '', token: 't' }],
    [{ uuid: 'with "quotes"', token: '[odd]' }],
  ])('round-trips %j', (cursor) => {
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
  });

  it('ends the listing on an empty token', () => {
    expect(encodeCursor({ uuid: 'u', token: '' })).toBe('');
    expect(decodeCursor('')).toEqual({ uuid: '', token: '' });
  });

  it('sends a foreign raw token as is', () => {
    expect(decodeCursor('plain')).toEqual({ uuid: '', token: 'plain' });
  });
});

describe('parseListResponse', () => {
  it('reads entries, sizes as strings, dirs by flag 256', () => {
    const page = parseListResponse(
      JSON.stringify({
        uuid: 'u',
        continuation_token: 'c',
        flags: 0,
        entries: [
          { name: 'a/', flags: 256 },
          { name: 'b.txt', size: '12', version: '2', checksum: 'ff', atime: '2026-01-02T15:04:05Z', flags: 64 },
          { name: 'c', size: 7 },
        ],
      }),
    );
    expect(page.continuationToken).toBe(encodeCursor({ uuid: 'u', token: 'c' }));
    expect(page.entries).toEqual([
      { name: 'a/', isDir: true, size: 0, version: undefined, mtimeMs: undefined, checksumValue: undefined },
      { name: 'b.txt', isDir: false, size: 12, version: '2', mtimeMs: Date.UTC(2026, 0, 2, 15, 4, 5), checksumValue: 'ff' },
      { name: 'c', isDir: false, size: 7, version: undefined, mtimeMs: undefined, checksumValue: undefined },
    ]);
  });

  it('takes null entries as an empty last page', () => {
    expect(parseListResponse('{"uuid":"u","continuation_token":"","entries":null,"flags":0}')).toEqual({
      entries: [],
      continuationToken: '',
    });
  });

  it.each(['not json', '[]', '{"entries":{}}', '{"entries":"a"}'])('rejects %s', (text) => {
    expect(() => parseListResponse(text)).toThrow(ListResponseError);
  });

  it('leaves out entries without a name (empty, null, missing, not an object) and counts them', () => {
    const counts: number[] = [];
    const page = parseListResponse(
      JSON.stringify({ entries: [{ name: '' }, { name: null, size: '1' }, { size: '1' }, null, 42, { name: 'ok.txt', size: '3' }] }),
      (count) => counts.push(count),
    );
    expect(page.entries.map((entry) => entry.name)).toEqual(['ok.txt']);
    expect(counts).toEqual([5]);
  });

  it('says nothing when every entry has a name', () => {
    const counts: number[] = [];
    parseListResponse('{"entries":[{"name":"a"}]}', (count) => counts.push(count));
    expect(counts).toEqual([]);
  });
});

describe('parseBucketList', () => {
  it('reads buckets with provider and namespace', () => {
    expect(
      parseBucketList(
        JSON.stringify([
          { name: 'b1', provider: 'ais', namespace: { uuid: '', name: '' } },
          { name: 'b2', provider: 'aws', namespace: { uuid: 'u', name: 'n' } },
        ]),
      ),
    ).toEqual([
      { name: 'b1', provider: 'ais' },
      { name: 'b2', provider: 'aws', namespace: '@u#n' },
    ]);
  });

  it('takes null as no buckets', () => {
    expect(parseBucketList('null')).toEqual([]);
  });

  it.each(['{}', '[{"provider":"ais"}]', 'x'])('rejects %s', (text) => {
    expect(() => parseBucketList(text)).toThrow(ListResponseError);
  });
});
