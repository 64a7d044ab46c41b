import { describe, expect, it } from 'vitest';
import { RotationWait } from '../../src/auth/rotation-wait.js';
import { capturingLogger } from '../helpers/logging.js';

const log = capturingLogger();

describe('RotationWait', () => {
  it('without a watch, the periodic check alone sees the change', async () => {
    let checks = 0;
    const wait = new RotationWait({ paths: [], check: async () => (checks += 1) >= 3, pollIntervalMs: 10, timeoutMs: 60_000, logger: log.logger });
    expect(await wait.done).toBe(true);
    expect(checks).toBe(3);
  });

  it('a folder that cannot be watched leaves the periodic check', async () => {
    let changed = false;
    const wait = new RotationWait({ paths: ['/nonexistent-folder/token'], check: async () => changed, pollIntervalMs: 10, timeoutMs: 60_000, logger: log.logger });
    changed = true;
    expect(await wait.done).toBe(true);
    expect(log.records().some((record) => record.msg === 'cannot watch the credentials folder; relying on the periodic check')).toBe(true);
  });

  it('ends unchanged when the time is up, and a failing check does not end it early', async () => {
    let checks = 0;
    const wait = new RotationWait({
      paths: [],
      check: async () => {
        checks += 1;
        throw new Error('stat failed');
      },
      pollIntervalMs: 10,
      timeoutMs: 100,
      logger: log.logger,
    });
    expect(await wait.done).toBe(false);
    expect(checks).toBeGreaterThan(1);
  });

  it('stop ends it once, with the first answer', async () => {
    const wait = new RotationWait({ paths: [], check: async () => false, pollIntervalMs: 1_000, timeoutMs: 60_000, logger: log.logger });
    wait.stop(true);
    wait.stop(false);
    expect(await wait.done).toBe(true);
  });
});
