import type { ListingCache } from './listing-cache.js';
import { parentPath } from './paths.js';
import { MetadataCache, type CacheLookup, type MetadataCacheOptions } from './metadata-cache.js';

/**
 * The metadata cache, answering as well from the listings kept for the TTL: a folder listed whole
 * needs no record of its own per child, which a walk of a million files would otherwise write,
 * and push out again, one by one. A record of the path itself (found, changed, or missing) wins;
 * a change of a child must drop its folder's kept listing too, which every change the filesystem makes does
 * (`listings.invalidate`; a name found gone at a listing's end is not in that listing, so it stands).
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
    const info = this.listings.childInfo(parentPath(path), path.slice(path.lastIndexOf('/') + 1));
    return info === undefined ? cached : { hit: true, info };
  }
}
