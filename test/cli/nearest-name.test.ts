import { describe, expect, it } from 'vitest';
import { editDistance, nearestName } from '../../src/cli/nearest-name.js';

describe('nearestName', () => {
  const keys = ['metadata_ttl', 'negative_metadata_ttl', 'token_file', 'mountpoint', 'bucket', 'uid', 'gid'];

  it.each([
    ['metdata_ttl', 'metadata_ttl'],
    ['metadata-ttl', 'metadata_ttl'],
    ['Token_File', 'token_file'],
    ['mountpiont', 'mountpoint'],
    ['buckte', 'bucket'],
    ['uidd', 'uid'],
  ])('%s → %s', (typo, expected) => {
    expect(nearestName(typo, keys)).toBe(expected);
  });

  it.each(['colour', 'backends_of_the_cluster', 'xyz'])('%s is like nothing: no suggestion', (unknown) => {
    expect(nearestName(unknown, keys)).toBeUndefined();
  });

  it('counts inserts, deletes and replacements', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });
});
