import { describe, expect, it } from 'vitest';
import { ListingStream } from '../../src/fs/listing-stream.js';
import { TreeWalk } from '../../src/fs/tree-prefetch.js';
import { WarnOnce } from '../../src/fs/warn-once.js';
import type { ListPageRequest } from '../../src/store/object-store.js';
import { MemoryBucket } from '../helpers/memory-bucket.js';
import { capturingLogger, makeFilesystem } from './fixture.js';

const name = (i: number): string => `f${String(i).padStart(4, '0')}`;

function fillTree(bucket: MemoryBucket, folders: number, perFolder: number): void {
  for (let f = 0; f < folders; f += 1) for (let i = 0; i < perFolder; i += 1) bucket.set(`tree/d${f}/${name(i)}`, `${f}:${i}`);
}

const warnings = (): WarnOnce => new WarnOnce(capturingLogger().logger, Date.now);

describe('listing pages asked for while the last one is served', () => {
  it('a tree walk asks for its next page before it hands over the folders of the page it got', async () => {
    const bucket = new MemoryBucket();
    fillTree(bucket, 4, 10);
    const events: string[] = [];
    const walk = new TreeWalk({
      listPage: (request: ListPageRequest) => {
        events.push(`page ${request.continuationToken === undefined ? 'first' : 'next'}`);
        return bucket.listPage(request);
      },
      rootPrefix: 'tree/',
      startAfter: '',
      warnings: warnings(),
      pageSize: 15,
      maxEntries: 1_000,
      maxUnread: 1_000,
      onFolder: (prefix, children) => {
        events.push(`folder ${prefix} ${children.length}`);
        return false;
      },
    });
    await walk.run();
    // Page 1 (15 keys) finishes d0/; the second page is asked for before d0/ is handed over.
    expect(events.slice(0, 3)).toEqual(['page first', 'page next', 'folder tree/d0/ 10']);
    expect(events.filter((event) => event.startsWith('folder'))).toEqual(['tree/d0/', 'tree/d1/', 'tree/d2/', 'tree/d3/'].map((prefix) => `folder ${prefix} 10`));
    expect(events.filter((event) => event.startsWith('page')).length).toBe(3);
  });

  it('a tree walk at its bound of unread children asks for no page ahead', async () => {
    const bucket = new MemoryBucket();
    fillTree(bucket, 4, 10);
    let pages = 0;
    const walk = new TreeWalk({
      listPage: (request) => ((pages += 1), bucket.listPage(request)),
      rootPrefix: 'tree/',
      startAfter: '',
      warnings: warnings(),
      pageSize: 15,
      maxEntries: 1_000,
      maxUnread: 5,
      onFolder: () => true,
    });
    const running = walk.run();
    await expect.poll(() => walk.covers('tree/d3/')).toBe(false);
    // d0/ was handed over unread (10 > 5): the walk waits with the second page fetched and the third not asked for.
    expect(pages).toBe(2);
    walk.read('tree/d0/');
    walk.read('tree/d1/');
    walk.stop();
    await running;
  });

  it('a folder stream asks for the next page once its reader is into the last page fetched', async () => {
    const bucket = new MemoryBucket();
    for (let i = 0; i < 100; i += 1) bucket.set(`big/${name(i)}`, String(i));
    const stream = new ListingStream({ listPage: (request) => bucket.listPage(request), dirPrefix: 'big/', warnings: warnings(), pageSize: 20, collectLimit: 1_000 });
    stream.start();
    expect((await stream.read(0, 2)).map((child) => child.name)).toEqual([name(0), name(1)]);
    // 18 children of the first page are still unread, and the second page is on its way already.
    await expect.poll(() => bucket.calls.listPage).toBe(2);
    stream.close();
  });
});

describe('lookups answered by the kept listings', () => {
  it('a walked folder needs no metadata record per child: its kept listing answers getattr, with no request', async () => {
    const { bucket, fs } = makeFilesystem({ listPageSize: 50 });
    fillTree(bucket, 5, 40);
    bucket.set('tree/d2/z-odd\u00e9', 'accented, after the ASCII names');
    const root = await fs.readdir('/tree');
    for (const folder of root) await fs.readdir(`/tree/${folder.name}`);
    const before = fs.metadataStats().metadataEntries;
    expect(before).toBeLessThan(5 * 40);
    bucket.resetCalls();
    for (let f = 0; f < 5; f += 1) {
      for (let i = 0; i < 40; i += 1) expect((await fs.getattr(`/tree/d${f}/${name(i)}`)).size).toBe(`${f}:${i}`.length);
    }
    expect((await fs.getattr('/tree/d2/z-odd\u00e9')).size).toBe('accented, after the ASCII names'.length);
    expect(bucket.totalCalls).toBe(0);
    expect(fs.metadataStats().metadataEntries).toBe(before);
  });

  it('a child gone from the store after its folder was listed is asked for again once the listing is dropped', async () => {
    const { bucket, fs } = makeFilesystem({ listPageSize: 50, allowDelete: true });
    fillTree(bucket, 3, 5);
    for (const folder of await fs.readdir('/tree')) await fs.readdir(`/tree/${folder.name}`);
    await fs.unlink(`/tree/d1/${name(2)}`);
    expect(await fs.getattr(`/tree/d1/${name(3)}`).then((attr) => attr.kind)).toBe('file');
    await expect(fs.getattr(`/tree/d1/${name(2)}`)).rejects.toMatchObject({ errno: expect.any(Number) });
  });
});
