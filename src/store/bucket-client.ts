import type { BaseParams, BaseParamsSource } from './base-params.js';
import { UnauthorizedError } from './errors.js';
import { describeRejection, type RejectionCause } from './rejection-cause.js';
import {
  listAll,
  type BucketRef,
  type ByteRange,
  type GetResult,
  type ListEntry,
  type ListPage,
  type ListPageRequest,
  type AppendHandle,
  type ObjectInfo,
  type PutResult,
  type UploadSource,
  type ObjectStore,
  type RequestOptions,
} from './object-store.js';

/**
 * One bucket of one store, with the credentials bound in: each call takes the current snapshot,
 * and a 401 invalidates it and retries once with a fresh one; if that is refused too, the call waits
 * for newer credentials (a rotation that is late) before it fails. What the filesystem core talks to.
 */
export interface BucketClient {
  readonly bucket: BucketRef;
  head(key: string, options?: RequestOptions): Promise<ObjectInfo>;
  get(key: string, range?: ByteRange, options?: RequestOptions): Promise<GetResult>;
  listPage(request: ListPageRequest, options?: RequestOptions): Promise<ListPage>;
  list(request: ListPageRequest, options?: RequestOptions): AsyncGenerator<ListEntry>;
  delete(key: string, options?: RequestOptions): Promise<void>;
  put(key: string, body: Uint8Array | string, options?: RequestOptions): Promise<void>;
  putFrom(key: string, source: UploadSource, options?: RequestOptions): Promise<PutResult>;
  append(key: string, handle: AppendHandle | undefined, chunk: Uint8Array, options?: RequestOptions): Promise<AppendHandle>;
  flushAppend(key: string, handle: AppendHandle, options?: RequestOptions): Promise<PutResult>;
  rename(fromKey: string, toKey: string, options?: RequestOptions): Promise<void>;
  headBucket(options?: RequestOptions): Promise<void>;
}

export interface BindOptions {
  /**
   * While the store refuses the credentials after a reload, hold the call until newer ones appear (as long as
   * the source's wait allows). Default true; a mount-time check and a health probe answer at once instead.
   */
  readonly waitForCredentials?: boolean;
}

/** The final 401, with the cause the source sees in what was sent. */
function refused(error: UnauthorizedError, cause: RejectionCause | undefined): UnauthorizedError {
  if (cause === undefined) return error;
  return new UnauthorizedError(`${error.message} (${describeRejection(cause)})`, { status: error.status, tcode: error.tcode, cause: error, rejection: cause });
}

export function bindBucket(store: ObjectStore, bucket: BucketRef, params: BaseParamsSource, bindOptions: BindOptions = {}): BucketClient {
  const waits = bindOptions.waitForCredentials ?? true;
  async function withParams<T>(call: (snapshot: BaseParams) => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    let snapshot = await params.current();
    try {
      return await call(snapshot);
    } catch (error) {
      if (!(error instanceof UnauthorizedError)) throw error;
      params.invalidate(snapshot);
      snapshot = await params.current();
    }
    // One retry with the reloaded credentials; while the store still refuses them, wait for newer ones.
    for (;;) {
      try {
        return await call(snapshot);
      } catch (error) {
        if (!(error instanceof UnauthorizedError)) throw error;
        const newer = waits ? await params.newerThan?.(snapshot, signal) : undefined;
        if (newer === undefined) throw refused(error, params.rejectionCause?.(snapshot));
        snapshot = newer;
      }
    }
  }

  const client: BucketClient = {
    bucket,
    head: (key, options) => withParams((p) => store.head(p, bucket, key, options), options?.signal),
    get: (key, range, options) => withParams((p) => store.get(p, bucket, key, range, options), options?.signal),
    listPage: (request, options) => withParams((p) => store.listPage(p, bucket, request, options), options?.signal),
    list: (request, options) => listAll((r) => client.listPage(r, options), request),
    delete: (key, options) => withParams((p) => store.delete(p, bucket, key, options), options?.signal),
    put: (key, body, options) => withParams((p) => store.put(p, bucket, key, body, options), options?.signal),
    // Each call opens the source again: a retry after a 401 re-sends the whole body.
    putFrom: (key, source, options) => withParams((p) => store.putFrom(p, bucket, key, source, options), options?.signal),
    append: (key, handle, chunk, options) => withParams((p) => store.append(p, bucket, key, handle, chunk, options), options?.signal),
    flushAppend: (key, handle, options) => withParams((p) => store.flushAppend(p, bucket, key, handle, options), options?.signal),
    rename: (fromKey, toKey, options) => withParams((p) => store.rename(p, bucket, fromKey, toKey, options), options?.signal),
    headBucket: (options) => withParams((p) => store.headBucket(p, bucket, options), options?.signal),
  };
  return client;
}
