import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Mounts write logs and run state under $XDG_CACHE_HOME/bucketfs: a folder of the run's own, removed after it.
process.env.BUCKETFS_TEST_CACHE ??= mkdtempSync(join(tmpdir(), 'bucketfs-test-cache-'));
process.env.XDG_CACHE_HOME = process.env.BUCKETFS_TEST_CACHE;

/** Files that touch state the whole machine shares (the kernel's dentry and inode caches): they run alone, last. */
const EXCLUSIVE = 'test/**/*.exclusive.test.ts';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
    globalSetup: ['./test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [EXCLUSIVE],
          // Mount tests spawn servers and FUSE processes; two cores gain nothing from more workers.
          maxWorkers: 2,
        },
      },
      {
        extends: true,
        test: { name: 'exclusive', include: [EXCLUSIVE], fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
