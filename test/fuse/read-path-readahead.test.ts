import { describe, expect, it } from 'vitest';
import { deviceOfMountpoint } from '../../src/fuse/mountinfo.js';
import { readAheadPath } from '../../src/fuse/readahead.js';

const MOUNTINFO = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '45 23 0:42 / /sys/fs/fuse/connections rw,relatime - fusectl none rw',
  '90 22 0:51 / /tmp/mnt rw,nosuid,nodev,relatime - fuse.bucketfs bucketfs#a rw,user_id=0,group_id=0',
  '91 22 0:52 / /tmp/with\\040space rw,nosuid,nodev,relatime - fuse.bucketfs bucketfs#b rw',
  '92 90 0:53 / /tmp/mnt rw,nosuid,nodev,relatime - fuse.bucketfs bucketfs#c rw',
  '',
].join('\n');

describe('deviceOfMountpoint', () => {
  it.each([
    ['/', '8:1'],
    ['/tmp/with space', '0:52'],
    ['/tmp/mnt', '0:53'],
    ['/tmp/nowhere', undefined],
    ['/tmp', undefined],
  ])('%s → %s', (mountpoint, device) => {
    expect(deviceOfMountpoint(MOUNTINFO, mountpoint)).toBe(device);
  });

  it('names the bdi file', () => {
    expect(readAheadPath('0:53')).toBe('/sys/class/bdi/0:53/read_ahead_kb');
  });
});
