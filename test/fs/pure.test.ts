import { describe, expect, it } from 'vitest';
import { illegalNameReason } from '../../src/fs/names.js';
import { ancestorPaths, listingPrefixForDir, normalizePath, normalizePrefix, objectKeyForPath, parentPath } from '../../src/fs/paths.js';
import { clampRead } from '../../src/fs/read-path.js';
import { childOfEntry } from '../../src/fs/readdir.js';
import { opensForWriting } from '../../src/fs/semantics.js';
import type { ListEntry } from '../../src/store/object-store.js';

describe('paths', () => {
  it.each([
    ['/', '/'],
    ['', '/'],
    ['/a', '/a'],
    ['/a/', '/a'],
    ['//a//b/', '/a/b'],
  ])('normalizePath(%j) = %j', (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  it.each([
    ['/', '/'],
    ['/a', '/'],
    ['/a/b', '/a'],
  ])('parentPath(%j) = %j', (input, expected) => {
    expect(parentPath(input)).toBe(expected);
  });

  it('lists ancestors nearest first', () => {
    expect(ancestorPaths('/a/b/c')).toEqual(['/a/b', '/a', '/']);
    expect(ancestorPaths('/')).toEqual([]);
  });

  it.each([
    ['', '/a/b', 'a/b', 'a/b/'],
    ['train/', '/a', 'train/a', 'train/a/'],
    ['train/', '/', 'train/', 'train/'],
    ['', '/', '', ''],
  ])('prefix %j path %j: key %j, listing prefix %j', (prefix, path, key, listing) => {
    expect(objectKeyForPath(prefix, path)).toBe(key);
    expect(listingPrefixForDir(prefix, path)).toBe(listing);
  });

  it.each([
    [undefined, ''],
    ['', ''],
    ['/', ''],
    ['train', 'train/'],
    ['train/', 'train/'],
    ['/a/b', 'a/b/'],
  ])('normalizePrefix(%j) = %j', (input, expected) => {
    expect(normalizePrefix(input)).toBe(expected);
  });
});

describe('illegalNameReason', () => {
  it.each([
    ['file.txt', undefined],
    ['name with spaces', undefined],
    ['ünïcødé 📦', undefined],
    ['', 'empty'],
    ['.', 'dot'],
    ['..', 'dot-dot'],
    ['a\0b', 'nul'],
    ['a/b', 'slash'],
    ['x'.repeat(255), undefined],
    ['x'.repeat(256), 'too-long'],
    ['é'.repeat(128), 'too-long'],
  ])('%j → %j', (name, reason) => {
    expect(illegalNameReason(name)).toBe(reason);
  });
});

function entry(name: string, isDir = false, size = 3): ListEntry {
  return { name, isDir, size, version: '1', mtimeMs: 5, checksumValue: undefined };
}

describe('childOfEntry', () => {
  it.each([
    ['a/', entry('a/x'), { name: 'x', info: { kind: 'file', size: 3, mtimeMs: 5, version: '1' } }],
    ['a/', entry('a/sub/', true), { name: 'sub', info: { kind: 'dir' } }],
    ['a/', entry('a/'), undefined],
    ['a/', entry('b/x'), undefined],
    ['a/', entry('a/deep/er/x'), { name: 'deep', info: { kind: 'dir' } }],
    ['a/', entry('a//', true), { name: '', info: { kind: 'dir' } }],
    ['', entry('top'), { name: 'top', info: { kind: 'file', size: 3, mtimeMs: 5, version: '1' } }],
  ])('under %j: %j', (prefix, listEntry, expected) => {
    expect(childOfEntry(prefix, listEntry)).toEqual(expected);
  });
});

describe('clampRead', () => {
  it.each([
    [10, 4, 0, 4],
    [10, 4, 8, 2],
    [10, 4, 10, 0],
    [10, 4, 99, 0],
    [0, 4, 0, 0],
    [10, 0, 3, 0],
  ])('size %d length %d at %d → %d', (size, length, position, expected) => {
    expect(clampRead(size, length, position)).toBe(expected);
  });
});

describe('opensForWriting', () => {
  it.each([
    [0, false],
    [0o100000, false], // O_LARGEFILE
    [1, true],
    [2, true],
    [0o1000, true],
    [0o2000, true],
  ])('flags %o → %j', (flags, expected) => {
    expect(opensForWriting(flags)).toBe(expected);
  });
});
