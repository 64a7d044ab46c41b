import { describe, expect, it } from 'vitest';
import {
  bucketQuery,
  bucketUri,
  escapeObjectName,
  namespaceParam,
  objectRoute,
  redirectTarget,
  resolveTarget,
} from '../../src/store/object-path.js';

describe('escapeObjectName', () => {
  it.each([
    ['plain/name.txt', 'plain/name.txt'],
    ['with space/a b', 'with%20space/a%20b'],
    ['100%/x', '100%25/x'],
    ['hash#tag', 'hash%23tag'],
    ['what?now', 'what%3Fnow'],
    ['ünï/кот/日本', '%C3%BCn%C3%AF/%D0%BA%D0%BE%D1%82/%E6%97%A5%E6%9C%AC'],
    ['dir/', 'dir/'],
    ['a+b&c=d', 'a%2Bb%26c%3Dd'],
  ])('%s → %s', (key, escaped) => {
    expect(escapeObjectName(key)).toBe(escaped);
  });
});

describe('namespaceParam', () => {
  it.each([
    ['@uuid#name', '@uuid#name'],
    ['uuid#name', '@uuid#name'],
    ['#local', '@#local'],
    ['local', '@#local'],
  ])('%s → %s', (input, sent) => {
    expect(namespaceParam(input)).toBe(sent);
  });
});

describe('request targets', () => {
  it('puts provider (default ais) and namespace in the query', () => {
    expect(bucketQuery({ name: 'b' }).toString()).toBe('provider=ais');
    expect(bucketQuery({ name: 'b', provider: 'aws', namespace: 'u#n' }).toString()).toBe('provider=aws&namespace=%40u%23n');
  });

  it('keeps an endpoint path prefix and never normalises the object path', () => {
    const route = objectRoute({ name: 'b' }, 'a/../b c');
    expect(resolveTarget('http://h:1/prefix/', route, bucketQuery({ name: 'b' }))).toEqual({
      origin: 'http://h:1',
      path: '/prefix/v1/objects/b/a/../b%20c?provider=ais',
    });
    expect(resolveTarget('http://h:1', '/v1/health')).toEqual({ origin: 'http://h:1', path: '/v1/health' });
  });

  it.each([
    ['http://target:2/v1/objects/b/k?provider=ais&pid=p', { origin: 'http://target:2', path: '/v1/objects/b/k?provider=ais&pid=p' }],
    ['/v1/objects/b/k%20x?provider=ais', { origin: 'http://proxy:1', path: '/v1/objects/b/k%20x?provider=ais' }],
    ['https://t/x', { origin: 'https://t', path: '/x' }],
  ])('follows Location %s', (location, expected) => {
    expect(redirectTarget({ origin: 'http://proxy:1', path: '/v1/objects/b/k?provider=ais' }, location)).toEqual(expected);
  });

  it('names buckets as provider://[namespace/]name', () => {
    expect(bucketUri({ name: 'b' })).toBe('ais://b');
    expect(bucketUri({ name: 'b', provider: 'gcp', namespace: '@u#n' })).toBe('gcp://@u#n/b');
  });
});
