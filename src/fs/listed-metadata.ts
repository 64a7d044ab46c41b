import type { ListingCache } from './listing-cache.js';
import { MetadataCache, type CacheLookup, type MetadataCacheOptions } from './metadata-cache.js';

/**
 * The metadata cache, answering as well from the listings kept for the TTL: a folder listed whole
 * needs no record of its own per child, which a walk of a million files would otherwise write,
 * and push out again, one by one. A record of the path itself (found, changed, or missing) wins;
 * whatever changes a child drops its folder's kept listing as well.
 */
export class ListedMetadataCache extends MetadataCache {
  constructor(
    options: MetadataCacheOptions,
    private readonly listings: ListingCache,
  ) {
    super(options);
  }

  override get(path: string): CacheLookup {
    const cached = super.get(path);
    if (cached.hit || path === '/') return cached;
    const slash = path.lastIndexOf('/');
    const info = this.listings.childInfo(slash === 0 ? '/' : path.slice(0, slash), path.slice(slash + 1));
    return info === undefined ? cached : { hit: true, info };
  }
}
