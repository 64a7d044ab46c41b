import type { BucketClient } from '../store/bucket-client.js';
import { NotFoundError } from '../store/errors.js';
import type { ListPage, ObjectInfo } from '../store/object-store.js';
import { Errno, FsError, toFsError } from './errno.js';
import type { MetadataCache } from './metadata-cache.js';
import { DIR_NODE, type NodeInfo } from './node-info.js';
import { listingPrefixForDir, objectKeyForPath } from './paths.js';
import { SingleFlight } from './single-flight.js';

const MAX_EMPTY_PAGES_FOLLOWED = 8;

/**
 * getattr of a path: the cache, else a HEAD of the object and a one-entry listing of `key/`
 * started together (an implied directory has no object to HEAD). The directory wins when both
 * exist. Concurrent lookups of one path share one pair of requests.
 */
export class Lookup {
  private readonly flights = new SingleFlight<NodeInfo | undefined>();

  constructor(
    private readonly client: BucketClient,
    private readonly prefix: string,
    private readonly cache: MetadataCache,
  ) {}

  /** The node at a normalized path; rejects with ENOENT when there is none. */
  async resolve(path: string): Promise<NodeInfo> {
    const info = await this.find(path);
    if (info === undefined) throw new FsError(Errno.ENOENT, `no such file or directory: ${path}`);
    return info;
  }

  /** The node at a normalized path, or undefined when there is none. */
  async find(path: string): Promise<NodeInfo | undefined> {
    if (path === '/') return DIR_NODE;
    const cached = this.cache.get(path);
    if (cached.hit) return cached.info;
    return this.flights.run(path, () => this.fetch(path));
  }

  private async fetch(path: string): Promise<NodeInfo | undefined> {
    const generation = this.cache.generation;
    const [head, dir] = await Promise.allSettled([
      this.client.head(objectKeyForPath(this.prefix, path)),
      this.hasChildren(listingPrefixForDir(this.prefix, path)),
    ]);
    const info = decide(head, dir);
    if (info === undefined) this.cache.setNotFound(path, generation);
    else this.cache.setFound(path, info, generation);
    return info;
  }

  /** Any object under `dirPrefix`, the `dirPrefix` marker object itself included. */
  private async hasChildren(dirPrefix: string): Promise<boolean> {
    let continuationToken = '';
    // A page may come back empty yet unfinished; follow it (a few times) rather than conclude "no directory".
    for (let pages = 0; pages < MAX_EMPTY_PAGES_FOLLOWED; pages += 1) {
      const page: ListPage = await this.client.listPage({ prefix: dirPrefix, recursive: false, pageSize: 1, continuationToken });
      if (page.entries.length > 0) return true;
      if (page.continuationToken === '') return false;
      continuationToken = page.continuationToken;
    }
    return false;
  }
}

/** Directory wins; a failure only matters when it leaves the answer unknown. */
function decide(head: PromiseSettledResult<ObjectInfo>, dir: PromiseSettledResult<boolean>): NodeInfo | undefined {
  if (dir.status === 'fulfilled' && dir.value) return DIR_NODE;
  if (dir.status === 'rejected' && !(dir.reason instanceof NotFoundError)) throw toFsError(dir.reason);
  if (head.status === 'fulfilled') {
    const object = head.value;
    return { kind: 'file', size: object.size, mtimeMs: object.mtimeMs, version: object.version };
  }
  if (head.reason instanceof NotFoundError) return undefined;
  throw toFsError(head.reason);
}
