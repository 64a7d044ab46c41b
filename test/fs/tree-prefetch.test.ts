import { describe, expect, it } from 'vitest';
import { makeFilesystem } from './fixture.js';
import type { MemoryBucket } from '../helpers/memory-bucket.js';

const FOLDERS = 10;
const PER_FOLDER = 30;

function fillTree(bucket: MemoryBucket): void {
  for (let f = 0; f < FOLDERS; f += 1) for (let i = 0; i < PER_FOLDER; i += 1) bucket.set(`tree/f${f}/img-${String(i).padStart(3, '0')}.jpg`, `${f}:${i}`);
  bucket.set('tree/f3/sub/deep', 'x');
  bucket.set('tree/f3/sub', 'a file hidden by the folder');
  bucket.set('tree/f3/sub-file', 'x');
  bucket.set('tree/f7/', '');
  bucket.set('tree/top.txt', 'x');
}

type Fs = ReturnType<typeof makeFilesystem>['fs'];

async function walk(fs: Fs, path: string, into: Map<string, string[]>): Promise<void> {
  const entries = await fs.readdir(path);
  into.set(path, entries.map((entry) => `${entry.name}:${entry.attr.kind}:${entry.attr.size}`));
  for (const entry of entries) if (entry.attr.kind === 'dir') await walk(fs, `${path}/${entry.name}`, into);
}

describe('tree prefetch', () => {
  it('lists the rest of a walked tree with one recursive listing once a second folder is opened, with the same entries', async () => {
    const walked = makeFilesystem({ listPageSize: 50 });
    const plain = makeFilesystem({ listPageSize: 50, treePrefetchMaxEntries: 0 });
    fillTree(walked.bucket);
    fillTree(plain.bucket);
    const seen = new Map<string, string[]>();
    const expected = new Map<string, string[]>();
    await walk(walked.fs, '/tree', seen);
    await walk(plain.fs, '/tree', expected);
    expect(seen).toEqual(expected);
    const folderListings = (bucket: MemoryBucket): number => bucket.listRequests.filter((request) => request.recursive === false && request.pageSize !== 1).length;
    // Without the walk: one listing per folder. With it: /tree and f0; f1 set the walk off and is read from it.
    expect(folderListings(plain.bucket)).toBe(FOLDERS + 2);
    expect(folderListings(walked.bucket)).toBe(2);
    const recursive = walked.bucket.listRequests.filter((request) => request.recursive === true);
    const walkedEntries = (FOLDERS - 1) * PER_FOLDER + 5;
    expect(recursive.length).toBe(Math.ceil(walkedEntries / 50));
    expect(recursive[0]).toMatchObject({ prefix: 'tree/', startAfter: 'tree/f1' });
  });

  it('fetches at most its bound of entries in one walk, and leaves the rest to later walks or listings of their own', async () => {
    const bounded = makeFilesystem({ listPageSize: 50, treePrefetchMaxEntries: 100 });
    const plain = makeFilesystem({ listPageSize: 50, treePrefetchMaxEntries: 0 });
    fillTree(bounded.bucket);
    fillTree(plain.bucket);
    const seen = new Map<string, string[]>();
    const expected = new Map<string, string[]>();
    await walk(bounded.fs, '/tree', seen);
    await walk(plain.fs, '/tree', expected);
    expect(seen).toEqual(expected);
    // A walk starts with `startAfter` and goes on with continuation tokens: at most 2 pages of 50 each.
    let pagesOfWalk = 0;
    for (const request of bounded.bucket.listRequests.filter((r) => r.recursive === true)) {
      pagesOfWalk = request.continuationToken ? pagesOfWalk + 1 : 1;
      expect(pagesOfWalk).toBeLessThanOrEqual(2);
    }
  });

  it('is not set off by a folder opened again, nor when the listing is kept already', async () => {
    const { bucket, fs } = makeFilesystem();
    fillTree(bucket);
    await fs.readdir('/tree/f1');
    await fs.readdir('/tree/f1');
    expect(bucket.listRequests.some((request) => request.recursive === true)).toBe(false);
  });
});
