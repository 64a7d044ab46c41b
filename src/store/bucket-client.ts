import type { BaseParams, BaseParamsSource } from './base-params.js';
import { UnauthorizedError } from './errors.js';
import {
  listAll,
  type BucketRef,
  type ByteRange,
  type GetResult,
  type ListEntry,
  type ListPage,
  type ListPageRequest,
  type ObjectInfo,
  type ObjectStore,
  type RequestOptions,
} from './object-store.js';

/**
 * One bucket of one store, with the credentials bound in: each call takes the current snapshot,
 * and a 401 invalidates it and retries once with a fresh one. What the filesystem core talks to.
 */
export interface BucketClient {
  readonly bucket: BucketRef;
  head(key: string, options?: RequestOptions): Promise<ObjectInfo>;
  get(key: string, range?: ByteRange, options?: RequestOptions): Promise<GetResult>;
  listPage(request: ListPageRequest, options?: RequestOptions): Promise<ListPage>;
  list(request: ListPageRequest, options?: RequestOptions): AsyncGenerator<ListEntry>;
  delete(key: string, options?: RequestOptions): Promise<void>;
  put(key: string, body: Uint8Array | string, options?: RequestOptions): Promise<void>;
  headBucket(options?: RequestOptions): Promise<void>;
}

export function bindBucket(store: ObjectStore, bucket: BucketRef, params: BaseParamsSource): BucketClient {
  async function withParams<T>(call: (snapshot: BaseParams) => Promise<T>): Promise<T> {
    const snapshot = await params.current();
    try {
      return await call(snapshot);
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      params.invalidate(snapshot);
      return call(await params.current());
    }
  }

  const client: BucketClient = {
    bucket,
    head: (key, options) => withParams((p) => store.head(p, bucket, key, options)),
    get: (key, range, options) => withParams((p) => store.get(p, bucket, key, range, options)),
    listPage: (request, options) => withParams((p) => store.listPage(p, bucket, request, options)),
    list: (request, options) => listAll((r) => client.listPage(r, options), request),
    delete: (key, options) => withParams((p) => store.delete(p, bucket, key, options)),
    put: (key, body, options) => withParams((p) => store.put(p, bucket, key, body, options)),
    headBucket: (options) => withParams((p) => store.headBucket(p, bucket, options)),
  };
  return client;
}
