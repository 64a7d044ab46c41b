import type { BaseParams } from './base-params.js';

/** A bucket as AIStore names it: `provider://[namespace/]name`. */
export interface BucketRef {
  readonly name: string;
  /** `ais` (default), `aws`, `gcp`, `azure`, `oci`. */
  readonly provider?: string;
  /** Non-global namespace, sent as `namespace=@<uuid>#<name>`. */
  readonly namespace?: string;
}

export interface ObjectInfo {
  readonly name: string;
  readonly size: number;
  /** `Ais-Version`; changes whenever the object's content changes. */
  readonly version: string | undefined;
  readonly checksumType: string | undefined;
  readonly checksumValue: string | undefined;
  /** From `Ais-Atime` (ns since the epoch) in ms; 0 when the server sent none. */
  readonly mtimeMs: number;
  readonly etag: string | undefined;
}

export interface ListEntry {
  /** Full object name; a directory entry of a non-recursive listing ends in `/`. */
  readonly name: string;
  readonly isDir: boolean;
  readonly size: number;
  readonly version: string | undefined;
  readonly mtimeMs: number | undefined;
  readonly checksumValue: string | undefined;
}

export interface ListPageRequest {
  readonly prefix?: string;
  /** false: only direct children of `prefix`, with sub-directories as `isDir` entries (LsNoRecursion). */
  readonly recursive?: boolean;
  readonly continuationToken?: string;
  readonly startAfter?: string;
  /** 0 or absent: the server's default. */
  readonly pageSize?: number;
}

export interface ListPage {
  readonly entries: ListEntry[];
  /** Empty when the listing is complete. */
  readonly continuationToken: string;
}

export interface ByteRange {
  readonly offset: number;
  /** Absent: to the end of the object. */
  readonly length?: number;
}

export interface GetResult {
  /** The bytes; when they arrived in chunks, joined into one Buffer on first use. */
  readonly data: Buffer;
  /** The same bytes as they arrived, when the client kept them apart: reading these saves a copy. */
  readonly chunks?: readonly Buffer[];
  /** Size of the whole object (from `Content-Range`, or the body length of a 200). */
  readonly objectSize: number;
  readonly version: string | undefined;
}

export interface RequestOptions {
  readonly signal?: AbortSignal;
  /**
   * GET only: memory for a successful body of `lengthBytes`, which the client may read the body straight into
   * (the caller reuses it for the next part instead of faulting in fresh pages): one buffer, or several filled
   * in turn, of `lengthBytes` in all. Undefined: fresh memory. A result whose chunks are not views of it did not
   * use it.
   */
  readonly bodyBuffer?: BodyBufferSource;
  /** This call's retry deadline instead of the client's (`RetryOptions.timeoutMs`), e.g. a shorter one at mount time. */
  readonly retryTimeoutMs?: number;
}

/**
 * Where an upload's bytes come from: opened afresh for each attempt, so a retry (401, 5xx, redirect) re-sends
 * them. `open()` must yield exactly `sizeBytes` bytes; the client never holds them all in memory.
 */
export interface UploadSource {
  readonly sizeBytes: number;
  open(): NodeJS.ReadableStream | AsyncIterable<Uint8Array>;
}

export interface PutResult {
  /** `Ais-Version` of the object just stored, when the server said. */
  readonly version: string | undefined;
}

/**
 * Opaque: the server's `Ais-Append-Handle` plus whatever the client needs to reach the same target again. Hand
 * the one the last `append` returned to the next `append` (or to `flushAppend`); an older one re-sends from its
 * point, as when a chunk is sent again.
 */
export interface AppendHandle {
  readonly handle: string;
  readonly target?: string;
}

export type BodyBufferSource = (lengthBytes: number) => Buffer | readonly Buffer[] | undefined;

/** What a `BodyBufferSource` offered, as the list of buffers to fill in turn. */
export function offeredBuffers(offered: Buffer | readonly Buffer[] | undefined): readonly Buffer[] | undefined {
  return offered === undefined || !Buffer.isBuffer(offered) ? offered : [offered];
}

/**
 * The object-store client. It knows nothing of files; every call takes the base-params snapshot
 * it must use, so a rotated credential applies to the very next request.
 */
export interface ObjectStore {
  head(params: BaseParams, bucket: BucketRef, key: string, options?: RequestOptions): Promise<ObjectInfo>;
  /** A range that starts at or past the end yields empty `data` (end of file), not an error. */
  get(params: BaseParams, bucket: BucketRef, key: string, range?: ByteRange, options?: RequestOptions): Promise<GetResult>;
  listPage(params: BaseParams, bucket: BucketRef, request: ListPageRequest, options?: RequestOptions): Promise<ListPage>;
  delete(params: BaseParams, bucket: BucketRef, key: string, options?: RequestOptions): Promise<void>;
  put(params: BaseParams, bucket: BucketRef, key: string, body: Uint8Array | string, options?: RequestOptions): Promise<void>;
  /** PUT streamed from `source`, re-opened for each attempt and redirect hop until the call's deadline. */
  putFrom(params: BaseParams, bucket: BucketRef, key: string, source: UploadSource, options?: RequestOptions): Promise<PutResult>;
  /**
   * Appends `chunk` to the object's work file (AIStore's `append_type=append`); `handle` undefined starts one. On
   * AIStore, starting one on a name that exists starts from a copy of that object. Nothing is visible until
   * `flushAppend`.
   */
  append(params: BaseParams, bucket: BucketRef, key: string, handle: AppendHandle | undefined, chunk: Uint8Array, options?: RequestOptions): Promise<AppendHandle>;
  /** Turns the work file into the object, atomically, replacing any previous version (`append_type=flush`). */
  flushAppend(params: BaseParams, bucket: BucketRef, key: string, handle: AppendHandle, options?: RequestOptions): Promise<PutResult>;
  /** rename-obj within the bucket; a NotFoundError (status 404) when `fromKey` is missing. */
  rename(params: BaseParams, bucket: BucketRef, fromKey: string, toKey: string, options?: RequestOptions): Promise<void>;
  headBucket(params: BaseParams, bucket: BucketRef, options?: RequestOptions): Promise<void>;
  listBuckets(params: BaseParams, options?: RequestOptions): Promise<BucketRef[]>;
  createBucket(params: BaseParams, bucket: BucketRef, options?: RequestOptions): Promise<void>;
  /** Resolves when the cluster answers `GET /v1/health` with 200; rejects with a StoreError otherwise. */
  health(params: BaseParams, options?: RequestOptions): Promise<void>;
  close(): Promise<void>;
}

/** Every entry of a listing, page after page. */
export async function* listAll(
  listPage: (request: ListPageRequest) => Promise<ListPage>,
  request: ListPageRequest,
): AsyncGenerator<ListEntry> {
  let continuationToken = request.continuationToken ?? '';
  do {
    const page = await listPage({ ...request, continuationToken });
    yield* page.entries;
    continuationToken = page.continuationToken;
  } while (continuationToken !== '');
}
