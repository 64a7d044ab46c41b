import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { secretKeyFromText, signToken } from '../../src/server/jwt.js';
import { cleanupMounts, daemonPidFrom, makeMountpoint, waitUntil } from '../helpers/mount.js';
import { runCli } from '../helpers/processes.js';
import { capturingLogger } from '../helpers/logging.js';
import { useServer, withTempDir } from '../helpers/server.js';
import { KubeletSecretVolume } from './kubelet-secret-volume.js';

/*
 * The Kubernetes example's token path, here: a Secret volume laid out and rotated as kubelet does it, under a
 * running mount of a server that requires auth and stops accepting the old token at each rotation.
 */
const ROTATIONS = 3;
const objects = Object.fromEntries(Array.from({ length: ROTATIONS + 1 }, (_, index) => [`train/part-${index}.txt`, `part ${index}\n`]));

let serverSecretFile = '';
const serverLog = capturingLogger();
const server = useServer(objects, async (outsideDir) => {
  serverSecretFile = join(outsideDir, 'secret');
  await writeFile(serverSecretFile, secretFor(0));
  return { authSecretFile: serverSecretFile, secretCheckIntervalMs: 50, previousSecretGraceMs: 0, logger: serverLog.logger };
});

/** Requests the server refused (401) since the log had `since` lines. */
function refusedSince(since: number): number {
  return serverLog.records().slice(since).filter((record) => record.msg === 'request refused' && record.status === 401).length;
}

let volumeDir: { path: string; remove: () => Promise<void> };

beforeAll(async () => {
  volumeDir = await withTempDir('secret-volume');
});
afterEach(() => cleanupMounts());
afterAll(async () => {
  cleanupMounts();
  await volumeDir?.remove();
});

function secretFor(generation: number): string {
  return `rotation-test-secret-${generation}-long-enough-for-hs256`;
}

function tokenFor(generation: number): Promise<string> {
  return signToken(secretKeyFromText(secretFor(generation)), { ttlMs: 3_600_000, subject: `generation-${generation}` });
}

async function statusWith(token: string): Promise<number> {
  const response = await fetch(`${server.url}/v1/objects/train/part-0.txt`, { method: 'HEAD', headers: { Authorization: `Bearer ${token}` } });
  return response.status;
}

describe('a kubelet Secret volume rotated under a running mount', () => {
  it('uses the new token on the next request after each ..data swap', async () => {
    const volume = new KubeletSecretVolume(volumeDir.path, 0o400);
    await volume.write({ token: await tokenFor(0) });
    const mountpoint = makeMountpoint('k8s-secret');
    const result = await runCli(['mount', 'ais://train', mountpoint, '--endpoint', server.url, '--token-file', volume.path('token'),
      // A stat of the token file before every request: the first one after a swap must carry the new token.
      '--token-check-interval', '0', '--token-wait', '0']);
    daemonPidFrom(result.stderr);
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(join(mountpoint, 'part-0.txt'), 'utf8')).toBe('part 0\n');
    expect(refusedSince(0)).toBe(0);

    for (let generation = 1; generation <= ROTATIONS; generation += 1) {
      const oldToken = await tokenFor(generation - 1);
      await writeFile(serverSecretFile, secretFor(generation));
      const probedAt = serverLog.lines.length;
      await waitUntil(async () => (await statusWith(oldToken)) === 401, 10_000, 'the server to refuse the old token');
      // The count below sees refusals: the probe's own are there.
      expect(refusedSince(probedAt)).toBeGreaterThan(0);
      await volume.write({ token: await tokenFor(generation) });
      const swappedAt = serverLog.lines.length;
      // Exactly kubelet's layout: the key, ..data and one timestamped folder.
      expect((await readdir(volumeDir.path)).sort()).toEqual([expect.stringMatching(/^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$/), '..data', 'token']);
      // An object never read before: the store is asked, with the token of the new folder.
      expect(await readFile(join(mountpoint, `part-${generation}.txt`), 'utf8')).toBe(`part ${generation}\n`);
      // Not one request with the old token after the swap, not even one the mount then retried.
      expect(refusedSince(swappedAt)).toBe(0);
    }
  });
});
