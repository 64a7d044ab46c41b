import type { BaseParams } from './base-params.js';
import { NotFoundError, ProtocolError } from './errors.js';
import { HttpTransport, type HttpMethod, type Send, type StoreResponse, type TransportOptions } from './http-transport.js';
import type { RequestTarget } from './object-path.js';
import { parseContentRange, rangeHeader } from './content-range.js';
import { ListResponseError, listObjectsBody, parseBucketList, parseListResponse } from './list-request.js';
import { headerCount, headerValue, objectInfoFromHeaders, utf8HeaderText } from './object-headers.js';
import {
  bucketQuery,
  bucketRoute,
  bucketUri,
  DEFAULT_PROVIDER,
  objectRoute,
  resolveTarget,
} from './object-path.js';
import type {
  AppendHandle,
  BucketRef,
  ByteRange,
  GetResult,
  ListPage,
  ListPageRequest,
  ObjectInfo,
  ObjectStore,
  PutResult,
  RequestOptions,
  UploadSource,
} from './object-store.js';
import { appendQuery, appendTarget, flushQuery, nextAppendHandle } from './append-request.js';
import { joinChunks, MAX_ERROR_BODY_BYTES, readBody, readText } from './response-body.js';
import { parseAisError, statusError, transportError } from './response-errors.js';
import { RetryPolicy, type RetryClass, type RetryDeps, type RetryOptions, type RetryStats } from './retry-policy.js';
import { assertSameObject, readBodyKeepingPrefix, type ObjectIdentity } from './retry-resume.js';
import { WarnOnce } from '../fs/warn-once.js';

export interface AistoreClientOptions extends TransportOptions {
  /** Retries of idempotent calls (GET, HEAD, list, DELETE, health) on connection errors, timeouts, 429 and 5xx. */
  readonly retry?: RetryOptions;
  /** Clock, sleep and randomness of the retry loop; for tests. */
  readonly retryDeps?: RetryDeps;
}

/** One attempt of a GET: the bytes of the asked range that arrived, and why the rest did not (if it did not). */
interface GetPiece {
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
  readonly objectSize: number;
  readonly version: string | undefined;
  readonly brokenBy?: unknown;
}

const EMPTY = Buffer.alloc(0);
const JSON_HEADERS = { 'content-type': 'application/json' } as const;

interface Call {
  readonly method: HttpMethod;
  readonly route: string;
  readonly query?: URLSearchParams;
  /** Instead of the endpoint: where an earlier answer came from (an append's target). */
  readonly target?: RequestTarget;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string | UploadSource;
  /** Names the call in errors: `GET ais://b/key`. */
  readonly what: string;
}

/**
 * ObjectStore over AIStore's native HTTP API (`/v1/...`), see docs/aistore-protocol.md. Stateless apart from
 * its connection pools: every call carries the base-params snapshot to use.
 */
export class AistoreClient implements ObjectStore {
  private readonly transport: HttpTransport;
  private readonly send: Send;
  private readonly retry: RetryPolicy;
  /** One warning per listing that held entries without a name. */
  private readonly namelessWarnings: WarnOnce | undefined;

  constructor(options: AistoreClientOptions = {}) {
    this.transport = new HttpTransport(options);
    this.send = this.transport.send;
    const logger = options.logger;
    this.namelessWarnings = logger === undefined ? undefined : new WarnOnce(logger, Date.now);
    const onRetry = options.retry?.onRetry;
    this.retry = new RetryPolicy(
      {
        ...options.retry,
        onRetry: (event) => {
          // The error's message names the call and status; headers (the token) are never part of it.
          logger?.debug({ what: event.what, attempt: event.attempt, reason: event.reason, delayMs: event.delayMs, err: event.error.message }, 'store retry');
          onRetry?.(event);
        },
      },
      options.retryDeps,
    );
  }

  /** Retry counters since the client was made (a snapshot), for metrics. */
  get stats(): RetryStats {
    return this.retry.stats;
  }

  async head(params: BaseParams, bucket: BucketRef, key: string, options?: RequestOptions): Promise<ObjectInfo> {
    const call: Call = {
      method: 'HEAD',
      route: objectRoute(bucket, key),
      query: bucketQuery(bucket),
      what: `HEAD ${objectUri(bucket, key)}`,
    };
    return this.retried(params, options, call, 'idempotent', async (response) => {
      response.body.discard();
      return objectInfoFromHeaders(key, response.headers);
    });
  }

  async get(
    params: BaseParams,
    bucket: BucketRef,
    key: string,
    range?: ByteRange,
    options?: RequestOptions,
  ): Promise<GetResult> {
    // Nothing asked, nothing sent: the size is unknown, and the caller's own offset is the honest answer.
    if (range?.length === 0) return { data: EMPTY, objectSize: range.offset, version: undefined };
    const what = `GET ${objectUri(bucket, key)}`;
    const startOffset = range?.offset ?? 0;
    // What earlier attempts received: a broken body continues from there, if the object is still the same.
    const received: Buffer[] = [];
    let receivedBytes = 0;
    let identity: ObjectIdentity | undefined;
    return this.retry.run(what, 'idempotent', options?.signal, async (_attempt, signal) => {
      const attemptOptions: RequestOptions = { ...options, signal };
      const resuming = receivedBytes > 0;
      if (resuming) this.retry.noteResumedBody();
      const asked: ByteRange | undefined = resuming
        ? { offset: startOffset + receivedBytes, ...(range?.length === undefined ? {} : { length: range.length - receivedBytes }) }
        : range;
      const piece = await this.getAttempt(params, bucket, key, asked, attemptOptions, what);
      const seen = { version: piece.version, objectSize: piece.objectSize };
      // Only bytes already kept bind the object; before any, a newer version is simply what is read.
      if (identity === undefined || !resuming) identity = seen;
      else assertSameObject(identity, seen, what);
      for (const chunk of piece.chunks) received.push(chunk);
      receivedBytes += piece.bytes;
      if (piece.brokenBy !== undefined) throw transportError(piece.brokenBy, what, signal);
      return chunkedResult(received, receivedBytes, piece.objectSize, piece.version);
    }, options?.retryTimeoutMs);
  }

  /** One GET exchange; a body that breaks off yields what arrived, for the caller to continue. */
  private async getAttempt(
    params: BaseParams,
    bucket: BucketRef,
    key: string,
    range: ByteRange | undefined,
    options: RequestOptions | undefined,
    what: string,
  ): Promise<GetPiece> {
    const header = rangeHeader(range);
    const response = await this.exchange(params, options, {
      method: 'GET',
      route: objectRoute(bucket, key),
      query: bucketQuery(bucket),
      headers: header === undefined ? {} : { range: header },
      what,
    });
    const version = headerValue(response.headers, 'ais-version') || undefined;
    if (response.statusCode === 416) {
      const size = parseContentRange(headerValue(response.headers, 'content-range'))?.size;
      if (size !== undefined && range !== undefined && range.offset >= size) {
        response.body.discard();
        return { chunks: [], bytes: 0, objectSize: size, version };
      }
      return this.fail(response, what, options, size);
    }
    if (response.statusCode !== 200 && response.statusCode !== 206) return this.fail(response, what, options);
    const contentLength = headerCount(response.headers, 'content-length');
    if (response.statusCode === 206) {
      const contentRange = parseContentRange(headerValue(response.headers, 'content-range'));
      if (contentRange?.first !== range?.offset) {
        response.body.discard();
        throw new ProtocolError(`${what}: 206 for a different range than asked`, { status: 206 });
      }
      const read = await readBodyKeepingPrefix(response.body, contentLength, what);
      const objectSize = contentRange?.size ?? (range?.offset ?? 0) + (contentLength ?? read.bytes);
      return { chunks: read.chunks, bytes: read.bytes, objectSize, version, ...(read.complete ? {} : { brokenBy: read.error }) };
    }
    // A 200 to a ranged GET (a server that ignores `Range`) carries the whole object from byte 0: only the
    // asked part of it is of use, and if it broke off, only what arrived of that part.
    const read = await readBodyKeepingPrefix(response.body, contentLength, what);
    const objectSize = read.complete ? read.bytes : (contentLength ?? read.bytes);
    const asked = askedPart(joinChunks(read.chunks, read.bytes), range);
    return { chunks: asked.length > 0 ? [asked] : [], bytes: asked.length, objectSize, version, ...(read.complete ? {} : { brokenBy: read.error }) };
  }

  async listPage(
    params: BaseParams,
    bucket: BucketRef,
    request: ListPageRequest,
    options?: RequestOptions,
  ): Promise<ListPage> {
    const what = `list ${bucketUri(bucket)}${request.prefix ? `/${request.prefix}` : ''}`;
    const call: Call = {
      method: 'GET',
      route: bucketRoute(bucket),
      query: bucketQuery(bucket),
      headers: JSON_HEADERS,
      body: listObjectsBody(request),
      what,
    };
    const warnNameless = (count: number): void => this.namelessWarnings?.warn(what, { list: what, count }, 'list entries without a name skipped');
    return this.retried(params, options, call, 'idempotent', (response, attemptOptions) =>
      this.parseJson(response, what, attemptOptions, (text) => parseListResponse(text, warnNameless)),
    );
  }

  async delete(params: BaseParams, bucket: BucketRef, key: string, options?: RequestOptions): Promise<void> {
    const call: Call = {
      method: 'DELETE',
      route: objectRoute(bucket, key),
      query: bucketQuery(bucket),
      what: `DELETE ${objectUri(bucket, key)}`,
    };
    await this.retried(params, options, call, 'idempotent', discardResponse);
  }

  async put(
    params: BaseParams,
    bucket: BucketRef,
    key: string,
    body: Uint8Array | string,
    options?: RequestOptions,
  ): Promise<void> {
    // Bytes rather than a string: a redirect re-sends exactly these, and undici sets Content-Length from them.
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    await this.retried(params, options, objectPut(bucket, key, bytes), 'put', discardResponse);
  }

  /**
   * Retried on every retryable failure until the deadline, unlike `put`: the source holds the whole object, so
   * sending it again can only store the same bytes.
   */
  async putFrom(params: BaseParams, bucket: BucketRef, key: string, source: UploadSource, options?: RequestOptions): Promise<PutResult> {
    return this.retried(params, options, objectPut(bucket, key, source), 'idempotent', discardedPutResult);
  }

  /**
   * Every chunk after the first goes straight to the target that answered the first (the handle names a work
   * file there). Retried only when nothing can have been stored, as a PUT is: an AIStore handle does not say how
   * many bytes it stands for, so a chunk sent again after the target took it would land twice.
   */
  async append(
    params: BaseParams,
    bucket: BucketRef,
    key: string,
    handle: AppendHandle | undefined,
    chunk: Uint8Array,
    options?: RequestOptions,
  ): Promise<AppendHandle> {
    const call: Call = {
      method: 'PUT',
      route: objectRoute(bucket, key),
      query: appendQuery(bucketQuery(bucket), handle),
      ...(handle?.target === undefined ? {} : { target: appendTarget(handle.target) }),
      headers: { 'content-type': 'application/octet-stream' },
      body: chunk,
      what: `append to ${objectUri(bucket, key)}`,
    };
    return this.retried(params, options, call, 'put', async (response) => {
      response.body.discard();
      const next = headerValue(response.headers, 'ais-append-handle');
      if (!next) throw new ProtocolError(`${call.what}: the answer carries no Ais-Append-Handle`, { status: response.statusCode });
      return nextAppendHandle(next, handle?.target ?? redirectedTo(params, response));
    });
  }

  async flushAppend(params: BaseParams, bucket: BucketRef, key: string, handle: AppendHandle, options?: RequestOptions): Promise<PutResult> {
    const what = `flush ${objectUri(bucket, key)}`;
    const call: Call = {
      method: 'PUT',
      route: objectRoute(bucket, key),
      query: flushQuery(bucketQuery(bucket), handle),
      ...(handle.target === undefined ? {} : { target: appendTarget(handle.target) }),
      what,
    };
    // No checksum is declared: AIStore checks one against the bucket's own type (xxhash unless configured), so a
    // fixed one would be refused; the appends' retry rule is what keeps a chunk from landing twice.
    return this.retried(params, options, call, 'idempotent', discardedPutResult);
  }

  /**
   * A retry that finds `fromKey` gone may follow an attempt that did rename it (its answer lost): the rename
   * stands when `toKey` now exists.
   */
  async rename(params: BaseParams, bucket: BucketRef, fromKey: string, toKey: string, options?: RequestOptions): Promise<void> {
    const call: Call = {
      method: 'POST',
      route: objectRoute(bucket, fromKey),
      query: bucketQuery(bucket),
      headers: JSON_HEADERS,
      body: JSON.stringify({ action: 'rename-obj', name: toKey }),
      what: `rename ${objectUri(bucket, fromKey)} to ${toKey}`,
    };
    let attempts = 0;
    try {
      await this.retried(params, options, call, 'idempotent', async (response) => {
        response.body.discard();
      }, () => (attempts += 1));
    } catch (error) {
      if (!(error instanceof NotFoundError) || attempts < 2) throw error;
      await this.head(params, bucket, toKey, options).catch(() => {
        throw error;
      });
    }
  }

  async headBucket(params: BaseParams, bucket: BucketRef, options?: RequestOptions): Promise<void> {
    const call: Call = {
      method: 'HEAD',
      route: bucketRoute(bucket),
      query: bucketQuery(bucket),
      what: `HEAD ${bucketUri(bucket)}`,
    };
    await this.retried(params, options, call, 'idempotent', async (response) => {
      response.body.discard();
      // Anything that answers 200 to every request (a web server, a login page) would pass a bare status check.
      if (!isBucketPropsJson(headerValue(response.headers, BUCKET_PROPS_HEADER))) {
        throw new ProtocolError(`${call.what}: the answer is not AIStore's (no Ais-Bucket-Props header): is the endpoint an AIStore cluster?`, { status: 200 });
      }
    });
  }

  async listBuckets(params: BaseParams, options?: RequestOptions): Promise<BucketRef[]> {
    const what = 'list buckets';
    const call: Call = {
      method: 'GET',
      route: '/v1/buckets',
      query: new URLSearchParams({ provider: DEFAULT_PROVIDER }),
      headers: JSON_HEADERS,
      body: JSON.stringify({ action: 'list', name: '', value: null }),
      what,
    };
    return this.retried(params, options, call, 'idempotent', (response, attemptOptions) => this.parseJson(response, what, attemptOptions, parseBucketList));
  }

  async createBucket(params: BaseParams, bucket: BucketRef, options?: RequestOptions): Promise<void> {
    const call: Call = {
      method: 'POST',
      route: bucketRoute(bucket),
      query: bucketQuery(bucket),
      headers: JSON_HEADERS,
      body: JSON.stringify({ action: 'create-bck', name: '', value: null }),
      what: `create ${bucketUri(bucket)}`,
    };
    // Not idempotent: a retry after the bucket was made would answer 409.
    await this.retried(params, options, call, 'never', discardResponse);
  }

  async health(params: BaseParams, options?: RequestOptions): Promise<void> {
    const call: Call = { method: 'GET', route: '/v1/health', what: 'GET health' };
    await this.retried(params, options, call, 'idempotent', discardResponse);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** One request with the snapshot's endpoint and headers; any status comes back. */
  private exchange(params: BaseParams, options: RequestOptions | undefined, call: Call): Promise<StoreResponse> {
    return this.send({
      method: call.method,
      target: call.target === undefined ? resolveTarget(params.endpoint, call.route, call.query) : withQuery(call.target, call.query),
      headers: { ...params.headers, ...call.headers },
      body: call.body,
      signal: options?.signal,
      bodyBuffer: options?.bodyBuffer,
      what: call.what,
    });
  }

  /**
   * As `exchange`, anything other than 200 becoming the typed error, then `consume`; the whole of it tried
   * again as the retry class allows (a listing whose body breaks off is asked again).
   */
  private retried<T>(
    params: BaseParams,
    options: RequestOptions | undefined,
    call: Call,
    retryClass: RetryClass,
    consume: (response: StoreResponse, attemptOptions: RequestOptions) => Promise<T>,
    onAttempt?: () => void,
  ): Promise<T> {
    return this.retry.run(call.what, retryClass, options?.signal, async (_attempt, signal) => {
      onAttempt?.();
      const attemptOptions: RequestOptions = { ...options, signal };
      const response = await this.exchange(params, attemptOptions, call);
      if (response.statusCode !== 200) return this.fail(response, call.what, attemptOptions);
      return consume(response, attemptOptions);
    }, options?.retryTimeoutMs);
  }

  /** Throws the typed error for a failed response, with the server's message (body, or `Hdr-Error` on HEAD). */
  private async fail(
    response: StoreResponse,
    what: string,
    options: RequestOptions | undefined,
    objectSize?: number,
  ): Promise<never> {
    let text = utf8HeaderText(headerValue(response.headers, 'hdr-error'));
    if (text === undefined) {
      try {
        text = await readText(response.body, MAX_ERROR_BODY_BYTES);
      } catch (error) {
        // The status already says what went wrong; a lost error body only loses the server's wording,
        // unless the caller gave up, which they must hear about.
        if (options?.signal?.aborted) throw transportError(error, what, options.signal);
      }
    } else {
      response.body.discard();
    }
    throw statusError(response.statusCode, what, parseAisError(text), objectSize);
  }

  private async readAll(response: StoreResponse, what: string, options: RequestOptions | undefined): Promise<Buffer> {
    try {
      return await readBody(response.body, headerCount(response.headers, 'content-length'), what);
    } catch (error) {
      throw transportError(error, what, options?.signal);
    }
  }

  private async parseJson<T>(
    response: StoreResponse,
    what: string,
    options: RequestOptions | undefined,
    parse: (text: string) => T,
  ): Promise<T> {
    const text = (await this.readAll(response, what, options)).toString('utf8');
    try {
      return parse(text);
    } catch (error) {
      if (error instanceof ListResponseError) throw new ProtocolError(`${what}: ${error.message}`, { status: 200 });
      throw error;
    }
  }
}

export function createAistoreClient(options: AistoreClientOptions = {}): AistoreClient {
  return new AistoreClient(options);
}

/** AIStore answers a bucket HEAD with the bucket's properties as JSON in `Ais-Bucket-Props`. */
const BUCKET_PROPS_HEADER = 'ais-bucket-props';

function isBucketPropsJson(text: string | undefined): boolean {
  if (text === undefined) return false;
  try {
    const props: unknown = JSON.parse(text);
    return props !== null && typeof props === 'object' && !Array.isArray(props);
  } catch {
    return false;
  }
}

/** Where a redirect led the call, when it led away from the endpoint; undefined when the endpoint answered. */
function redirectedTo(params: BaseParams, response: StoreResponse): RequestTarget | undefined {
  const from = response.from;
  return from === undefined || from.origin === new URL(params.endpoint).origin ? undefined : from;
}

function putResult(response: StoreResponse): PutResult {
  return { version: headerValue(response.headers, 'ais-version') || undefined };
}

async function discardedPutResult(response: StoreResponse): Promise<PutResult> {
  response.body.discard();
  return putResult(response);
}

/** A whole-object PUT of `body`. */
function objectPut(bucket: BucketRef, key: string, body: Uint8Array | UploadSource): Call {
  return {
    method: 'PUT',
    route: objectRoute(bucket, key),
    query: bucketQuery(bucket),
    headers: { 'content-type': 'application/octet-stream' },
    body,
    what: `PUT ${objectUri(bucket, key)}`,
  };
}

function withQuery(target: RequestTarget, query: URLSearchParams | undefined): RequestTarget {
  const search = query?.toString() ?? '';
  return search === '' ? target : { origin: target.origin, path: `${target.path}?${search}` };
}

async function discardResponse(response: StoreResponse): Promise<void> {
  response.body.discard();
}

function objectUri(bucket: BucketRef, key: string): string {
  return `${bucketUri(bucket)}/${key}`;
}

/** The part of a whole object's bytes that `range` asks for (all of them without a range). */
function askedPart(data: Buffer, range: ByteRange | undefined): Buffer {
  if (range === undefined) return data;
  const end = range.length === undefined ? data.length : Math.min(data.length, range.offset + range.length);
  return data.subarray(Math.min(range.offset, data.length), end);
}

/** A GET's result keeping the chunks apart; `data` joins them only if someone asks for it. */
function chunkedResult(chunks: readonly Buffer[], bytes: number, objectSize: number, version: string | undefined): GetResult {
  let joined: Buffer | undefined;
  return {
    chunks,
    objectSize,
    version,
    get data(): Buffer {
      joined ??= chunks.length === 0 ? EMPTY : joinChunks(chunks, bytes);
      return joined;
    },
  };
}
