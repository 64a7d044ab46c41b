import { accessSync, closeSync, constants, linkSync, mkdirSync, openSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { run } from '../helpers/processes.js';
import { http, listBody } from './http.js';

interface Page {
  uuid: string;
  continuation_token: string;
  entries: { name: string; size?: string }[] | null;
}

/** Hard links of empty files: a name costs one syscall and no inode. ext4 allows 65,000 links per inode. */
const LINKS_PER_INODE = 50_000;

function pad(value: number, digits: number): string {
  return String(value).padStart(digits, '0');
}

/** Memory-backed when the machine has it: a million names are made and removed there in a fraction of the time. */
function scratchBase(): string {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

describe('listing at scale', () => {
  const server = { url: '', dataDir: '', outsideDir: '' };
  let running: RunningServer | undefined;
  let root = '';
  beforeAll(async () => {
    root = await mkdtemp(join(scratchBase(), 'bucketfs-listing-scale-'));
    server.dataDir = join(root, 'data');
    server.outsideDir = join(root, 'outside');
    await mkdir(server.dataDir);
    await mkdir(server.outsideDir);
    running = await startServer({ dataDir: server.dataDir, host: '127.0.0.1', port: 0 });
    server.url = running.url;
  });
  afterAll(async () => {
    await running?.close();
    // rm(1) unlinks a million names several times faster than fs.rm's walk through the thread pool.
    if (root !== '') expect((await run('rm', ['-rf', root], { timeoutMs: 240_000 })).code).toBe(0);
  }, 300_000);

  /** Writes `names` (paths below the bucket folder) as empty files, quickly. */
  function writeEmpty(bucket: string, names: readonly string[]): void {
    let source = '';
    let folder = '';
    names.forEach((name, index) => {
      if (index % LINKS_PER_INODE === 0) {
        source = join(server.outsideDir, `${bucket}-source-${index}`);
        closeSync(openSync(source, 'w'));
      }
      const path = join(server.dataDir, bucket, name);
      if (dirname(path) !== folder) {
        folder = dirname(path);
        mkdirSync(folder, { recursive: true });
      }
      linkSync(source, path);
    });
  }

  /** Every page of a listing; checks on the way that each page carries the listing's uuid. */
  async function listAll(bucket: string, value: Record<string, unknown>): Promise<{ names: string[]; pages: number }> {
    const names: string[] = [];
    let uuid = '';
    let token = '';
    let pages = 0;
    do {
      const answer = await http(server.url, { path: `/v1/buckets/${bucket}?provider=ais`, body: listBody({ ...value, uuid, continuation_token: token }) });
      expect(answer.status, answer.text).toBe(200);
      const page = JSON.parse(answer.text) as Page;
      if (uuid !== '') expect(page.uuid).toBe(uuid);
      uuid = page.uuid;
      token = page.continuation_token;
      for (const entry of page.entries ?? []) names.push(entry.name);
      pages += 1;
    } while (token !== '');
    return { names, pages };
  }

  it('pages through 1,000,000 names in 1,000 folders recursively: none lost, none repeated, in order', async () => {
    const folders = 1000;
    const perFolder = 1000;
    const expected: string[] = [];
    for (let folder = 0; folder < folders; folder += 1) {
      for (let index = 0; index < perFolder; index += 1) expected.push(`d${pad(folder, 4)}/o${pad(index, 4)}`);
    }
    writeEmpty('tree', expected);
    const { names, pages } = await listAll('tree', { props: 'name', pagesize: 10_000 });
    expect(pages).toBe(100);
    expect(names.length).toBe(expected.length);
    // The names are ASCII, so string order is the byte order the listing promises; equal arrays: none lost or repeated.
    expect(names.every((name, index) => name === expected[index])).toBe(true);
  }, 300_000);

  it('pages through 100,000 names of one folder (one level, default page size) with sizes: none lost, none repeated, in order', async () => {
    const expected = Array.from({ length: 100_000 }, (_, index) => `flat/n${pad(index, 6)}`);
    writeEmpty('flat', expected);
    const names: string[] = [];
    let uuid = '';
    let token = '';
    let pages = 0;
    do {
      // pagesize 0 means the server's default, 10,000.
      const answer = await http(server.url, {
        path: '/v1/buckets/flat?provider=ais',
        body: listBody({ prefix: 'flat/', flags: '2048', props: 'name,size,version', pagesize: 0, uuid, continuation_token: token }),
      });
      const page = JSON.parse(answer.text) as Page;
      expect(page.entries?.every((entry) => entry.size === '0')).toBe(true);
      uuid = page.uuid;
      token = page.continuation_token;
      for (const entry of page.entries ?? []) names.push(entry.name);
      pages += 1;
    } while (token !== '');
    expect(pages).toBe(10);
    expect(names.length).toBe(expected.length);
    expect(names.every((name, index) => name === expected[index])).toBe(true);
  }, 300_000);
});
