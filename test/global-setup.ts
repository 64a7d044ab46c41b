import { rmSync } from 'node:fs';

/**
 * The whole run's cache folder (logs, run state, demo data of every mount a test starts): made by
 * the config (test/vitest.config.ts) before any worker starts, so every process inherits it, and
 * removed here once the run is over, so a test run leaves no log file in the user's cache.
 */
export default function setup(): () => void {
  const folder = process.env.BUCKETFS_TEST_CACHE;
  return () => {
    if (folder !== undefined && folder !== '') rmSync(folder, { recursive: true, force: true });
  };
}
