import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/** Files that touch state the whole machine shares (the kernel's dentry and inode caches): they run alone, last. */
const EXCLUSIVE = 'test/**/*.exclusive.test.ts';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default', './test/summary-reporter.ts'],
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
