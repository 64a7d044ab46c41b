import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useServer } from '../helpers/server.js';
import { killAll, track, waitForExit } from '../helpers/processes.js';
import { spawn } from 'node:child_process';
import { http, objectPath } from './http.js';

const CANARY = 'CANARY-5c1e: the only file outside the data folder';
/** How long the swapper flips the folder; the loop is bounded by it, nothing is timed. */
const SWAP_MS = 3_000;
const PUTTERS = 8;

/*
 * A separate process swaps `b/sw` between a real folder and a symlink to a folder outside DIR as fast as it can,
 * while PUTs write into `b/sw/...`: whatever the interleaving, nothing may land outside.
 */
const SWAPPER = `
const fs = require('node:fs');
const [sw, outside, ms] = process.argv.slice(1);
const end = Date.now() + Number(ms);
for (let i = 0; Date.now() < end; i += 1) {
  try { fs.mkdirSync(sw); } catch {}
  try { fs.renameSync(sw, sw + '.old' + i); } catch {}
  try { fs.symlinkSync(outside, sw); } catch {}
  try { fs.unlinkSync(sw); } catch {}
  try { fs.rmSync(sw + '.old' + i, { recursive: true, force: true }); } catch {}
}
`;

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('PUT while a folder is swapped for a symlink to the outside', () => {
  const server = useServer({ 'b/keep.txt': 'keep' }, async (outsideDir) => {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(outsideDir, 'canary'), CANARY);
    return {};
  });

  afterEach(() => killAll());

  it('writes nothing outside the data folder, however the swaps fall', async () => {
    const swapper = track(spawn(process.execPath, ['-e', SWAPPER, join(server.dataDir, 'b', 'sw'), server.outsideDir, String(SWAP_MS)], { stdio: 'ignore' }));
    let swapping = true;
    const exited = waitForExit(swapper, SWAP_MS + 30_000).finally(() => (swapping = false));
    const statuses = new Map<number, number>();
    const putter = async (worker: number): Promise<void> => {
      for (let n = 0; swapping; n += 1) {
        const name = n % 2 === 0 ? `sw/obj-${worker}-${n}` : `sw/deep/er/obj-${worker}-${n}`;
        const answer = await http(server.url, { method: 'PUT', path: objectPath('b', name), body: Buffer.alloc(4096, 'x') });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      }
    };
    await Promise.all([...Array.from({ length: PUTTERS }, (_, worker) => putter(worker)), exited]);

    expect(await filesUnder(server.outsideDir)).toEqual(['canary']);
    expect(await readFile(join(server.outsideDir, 'canary'), 'utf8')).toBe(CANARY);
    // The race was run: uploads went through, and the only refusals are the ones a vanished or swapped folder explains.
    expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
    expect([...statuses.keys()].filter((status) => ![200, 400, 404, 409].includes(status))).toEqual([]);
  });
});
