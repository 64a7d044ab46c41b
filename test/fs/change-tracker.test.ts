import { describe, expect, it } from 'vitest';
import { ChangeTracker } from '../../src/fs/change-tracker.js';
import { InodeTable } from '../../src/fs/inode-table.js';
import type { FileNodeInfo } from '../../src/fs/node-info.js';
import type { FsChange } from '../../src/fs/types.js';

const file = (version: string, size = 10, mtimeMs = 1000): FileNodeInfo => ({ kind: 'file', size, mtimeMs, version });

function tracked(): { tracker: ChangeTracker; inodes: InodeTable; changes: FsChange[] } {
  const inodes = new InodeTable();
  const tracker = new ChangeTracker(inodes);
  const changes: FsChange[] = [];
  tracker.setListener((change) => changes.push(change));
  return { tracker, inodes, changes };
}

describe('ChangeTracker', () => {
  it.each([
    ['a new version', file('2')],
    ['a new size', file('1', 11)],
    ['a new mtime', file('1', 10, 2000)],
  ])('reports a file seen again with %s as changed, with its numbers', (_, again) => {
    const { tracker, inodes, changes } = tracked();
    tracker.sawFile('/d/a', file('1'));
    tracker.sawFile('/d/a', again);
    expect(changes).toEqual([{ kind: 'changed', path: '/d/a', ino: inodes.inoForPath('/d/a'), parentIno: inodes.inoForPath('/d'), name: 'a' }]);
  });

  it('reports nothing for a file seen again unchanged, or seen for the first time', () => {
    const { tracker, changes } = tracked();
    tracker.sawFile('/a', file('1'));
    tracker.sawFile('/a', file('1'));
    expect(changes).toEqual([]);
  });

  it('reports a looked-up name that a later listing lacks as gone, and returns it', () => {
    const { tracker, changes } = tracked();
    tracker.sawFile('/d/a', file('1'));
    tracker.sawFile('/d/b', file('1'));
    expect(tracker.sawListing('/d', ['b'])).toEqual(['/d/a']);
    expect(changes.map((change) => [change.kind, change.path])).toEqual([['gone', '/d/a']]);
    // Said once: the next listing compares with the last one.
    expect(tracker.sawListing('/d', ['b'])).toEqual([]);
  });

  it('reports a name gone from one listing to the next, folders included', () => {
    const { tracker } = tracked();
    expect(tracker.sawListing('/', ['x', 'sub'])).toEqual([]);
    expect(tracker.sawListing('/', ['x'])).toEqual(['/sub']);
  });

  it('reports a file seen before and missing at lookup as gone, once', () => {
    const { tracker, changes } = tracked();
    tracker.sawFile('/a', file('1'));
    tracker.sawMissing('/a');
    tracker.sawMissing('/a');
    tracker.sawMissing('/never-seen');
    expect(changes.map((change) => [change.kind, change.path])).toEqual([['gone', '/a']]);
  });

  it('tracks nothing without a listener', () => {
    const inodes = new InodeTable();
    const tracker = new ChangeTracker(inodes);
    tracker.sawFile('/a', file('1'));
    expect(tracker.sawListing('/', [])).toEqual([]);
    const changes: FsChange[] = [];
    tracker.setListener((change) => changes.push(change));
    tracker.sawFile('/a', file('2'));
    expect(changes).toEqual([]);
  });
});
