import { describe, expect, it } from 'vitest';
import { parseRunState, runStatePath } from '../../src/cli/metrics-run-state.js';
import { isBucketfsEntry } from '../../src/cli/status-command.js';
import { parseMountInfo } from '../../src/fuse/mountinfo.js';

describe('parseMountInfo', () => {
  it('reads mount point, device, type and source, unescaping octal escapes', () => {
    const text = [
      '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      '43 27 0:40 / /tmp/smoke/mnt rw,nosuid,nodev,relatime - fuse.bucketfs bucketfs\\043b rw,user_id=0,group_id=0',
      '44 27 0:41 / /tmp/with\\040space rw - fuse.bucketfs bucketfs#a+b rw',
      '45 27 0:42 / /old rw shared:5 master:1 - fuse bucketfs#legacy rw',
      'garbage',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { mountpoint: '/', device: '8:1', fsType: 'ext4', source: '/dev/sda1' },
      { mountpoint: '/tmp/smoke/mnt', device: '0:40', fsType: 'fuse.bucketfs', source: 'bucketfs#b' },
      { mountpoint: '/tmp/with space', device: '0:41', fsType: 'fuse.bucketfs', source: 'bucketfs#a+b' },
      { mountpoint: '/old', device: '0:42', fsType: 'fuse', source: 'bucketfs#legacy' },
    ]);
  });

  it.each([
    [{ mountpoint: '/m', fsType: 'fuse.bucketfs', source: 'bucketfs#b' }, true],
    [{ mountpoint: '/m', fsType: 'fuse', source: 'bucketfs#b' }, true],
    [{ mountpoint: '/m', fsType: 'fuse.sshfs', source: 'host:/x' }, false],
    [{ mountpoint: '/m', fsType: 'ext4', source: '/dev/sda1' }, false],
  ])('isBucketfsEntry(%j) = %s', (entry, expected) => {
    expect(isBucketfsEntry(entry)).toBe(expected);
  });
});

describe('run state', () => {
  it.each([
    ['{"pid":12,"mountpoint":"/m","metricsUrl":"http://127.0.0.1:9100"}', { pid: 12, mountpoint: '/m', metricsUrl: 'http://127.0.0.1:9100' }],
    ['{"pid":12,"mountpoint":"/m"}', { pid: 12, mountpoint: '/m' }],
    ['{"pid":12,"mountpoint":"/m","metricsUrl":5}', { pid: 12, mountpoint: '/m' }],
    ['{"pid":0,"mountpoint":"/m"}', undefined],
    ['{"pid":"12","mountpoint":"/m"}', undefined],
    ['{"pid":12}', undefined],
    ['[]', undefined],
    ['not json', undefined],
  ])('parseRunState(%s)', (text, expected) => {
    expect(parseRunState(text)).toEqual(expected);
  });

  it('keeps one file per mountpoint under the cache folder, whatever the spelling of the path', () => {
    const env = { XDG_CACHE_HOME: '/cache' };
    expect(runStatePath('/mnt/a', env)).toMatch(/^\/cache\/bucketfs\/run\/[0-9a-f]{16}\.json$/);
    expect(runStatePath('/mnt/a/', env)).toBe(runStatePath('/mnt/a', env));
    expect(runStatePath('/mnt/./a', env)).toBe(runStatePath('/mnt/a', env));
    expect(runStatePath('/mnt/b', env)).not.toBe(runStatePath('/mnt/a', env));
    expect(runStatePath('/mnt/a', { HOME: '/home/u' })).toMatch(/^\/home\/u\/\.cache\/bucketfs\/run\//);
  });
});
