import { connect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../helpers/mount.js';
import { killAll, startCli, waitForExit } from '../helpers/processes.js';
import { withTempDir } from '../helpers/server.js';

/* What `bucketfs serve` prints when it starts (the built CLI: `npm run build` first). */
const listens = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

describe('bucketfs serve output', () => {
  let data: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    data = await withTempDir('serve-output');
  });
  afterEach(() => killAll());
  afterAll(async () => {
    killAll();
    await data?.remove();
  });

  it('--redirect: prints the target listener with its port, and the target listens there', async () => {
    const serving = startCli(['serve', '--data', data.path, '--port', '0', '--redirect', '--log-level', 'warn']);
    await waitUntil(() => /^object calls .*\n/m.test(serving.output()), 20_000, 'the banner');
    // The first line is unchanged, `serving DIR on URL`, for scripts that take the URL from its end.
    const match = /^serving \S+ on http:\/\/127\.0\.0\.1:(\d+)\nobject calls are redirected to the target http:\/\/127\.0\.0\.1:(\d+) \(port (\d+)\): clients must reach it too\n/m.exec(serving.output());
    expect(match, serving.output()).not.toBeNull();
    expect(match?.[2]).toBe(match?.[3]);
    expect(match?.[2]).not.toBe(match?.[1]);
    expect(await listens(Number(match?.[2]))).toBe(true);
    serving.child.kill('SIGTERM');
    expect(await waitForExit(serving.child), serving.output()).toBe(0);
  });

  it('without --redirect: one listener, no target named', async () => {
    const serving = startCli(['serve', '--data', data.path, '--port', '0', '--log-level', 'warn']);
    await waitUntil(() => /^serving .*\n/m.test(serving.output()), 20_000, 'the banner');
    expect(serving.output()).toMatch(/^serving \S+ on http:\/\/127\.0\.0\.1:\d+\n/m);
    serving.child.kill('SIGTERM');
    expect(await waitForExit(serving.child), serving.output()).toBe(0);
  });
});
