import { describe, expect, it } from 'vitest';
import { ChangeTracker } from '../../src/fs/change-tracker.js';
import { InodeTable } from '../../src/fs/inode-table.js';
import type { FileNodeInfo } from '../../src/fs/node-info.js';
import type { FsChange } from '../../src/fs/types.js';

const file = (version: string | undefined, size = 10, mtimeMs = 1000): FileNodeInfo => ({ kind: 'file', size, mtimeMs, version });

function tracked(): { tracker: ChangeTracker; inodes: InodeTable; changes: FsChange[] } {
  const inodes = new InodeTable();
  const tracker = new ChangeTracker(inodes);
  const changes: FsChange[] = [];
  tracker.setListener((change) => changes.push(change));
  return { tracker, inodes, changes };
}

describe('ChangeTracker', () => {
  it.each([
    ['a new version', file('1'), file('2')],
    ['a new size', file('1'), file('1', 11)],
    ['a new mtime, when the store sends no version', file(undefined), file(undefined, 10, 2000)],
  ])('reports a numbered file seen again with %s as changed, with its numbers', (_, first, again) => {
    const { tracker, inodes, changes } = tracked();
    const ino = inodes.inoForPath('/d/a');
    tracker.sawFile('/d/a', first);
    tracker.sawFile('/d/a', again);
    expect(changes).toEqual([{ kind: 'changed', path: '/d/a', ino, parentIno: inodes.inoForPath('/d'), name: 'a' }]);
  });

  it('takes a version over the mtime: an access time moving on is no change', () => {
    const { tracker, inodes, changes } = tracked();
    inodes.inoForPath('/a');
    tracker.sawFile('/a', file('1', 10, 1000));
    tracker.sawFile('/a', file('1', 10, 5000));
    expect(changes).toEqual([]);
  });

  it('reports nothing for a file seen again unchanged, seen for the first time, or without a number', () => {
    const { tracker, inodes, changes } = tracked();
    inodes.inoForPath('/a');
    tracker.sawFile('/a', file('1'));
    tracker.sawFile('/a', file('1'));
    tracker.sawFile('/unnumbered', file('1'));
    tracker.sawFile('/unnumbered', file('2'));
    expect(changes).toEqual([]);
  });

  it('reports the numbered children a complete listing did not name as gone, and returns them', () => {
    const { tracker, inodes, changes } = tracked();
    inodes.inoForPath('/d/a');
    inodes.inoForPath('/d/b');
    inodes.inoForPath('/d/sub');
    inodes.markChildListed('/d', 'b', 7);
    expect(tracker.sawCompleteListing('/d', 7).sort()).toEqual(['/d/a', '/d/sub']);
    expect(changes.map((change) => [change.kind, change.path]).sort()).toEqual([
      ['gone', '/d/a'],
      ['gone', '/d/sub'],
    ]);
  });

  it('reports a numbered file missing at lookup as gone, and drops its number when nobody holds it', () => {
    const { tracker, inodes, changes } = tracked();
    inodes.inoForPath('/a');
    tracker.sawMissing('/a');
    tracker.sawMissing('/a');
    tracker.sawMissing('/never-seen');
    expect(changes.map((change) => [change.kind, change.path])).toEqual([['gone', '/a']]);
    expect(inodes.knownIno('/a')).toBeUndefined();
  });

  it('keeps reporting a gone name the kernel still holds, since each report may find a new dentry', () => {
    const { tracker, inodes, changes } = tracked();
    inodes.addLookup(inodes.inoForPath('/a'));
    tracker.sawMissing('/a');
    tracker.sawMissing('/a');
    expect(changes).toHaveLength(2);
    expect(inodes.knownIno('/a')).toBeDefined();
  });

  it('reports nothing without a listener', () => {
    const inodes = new InodeTable();
    const tracker = new ChangeTracker(inodes);
    inodes.inoForPath('/a');
    tracker.sawFile('/a', file('1'));
    const changes: FsChange[] = [];
    tracker.setListener((change) => changes.push(change));
    tracker.sawFile('/a', file('1'));
    expect(changes).toEqual([]);
  });
});
