import type { BaseParams } from './base-params.js';
import { ProtocolError } from './errors.js';
import { HttpTransport, type HttpMethod, type Send, type StoreResponse, type TransportOptions } from './http-transport.js';
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
  BucketRef,
  ByteRange,
  GetResult,
  ListPage,
  ListPageRequest,
  ObjectInfo,
  ObjectStore,
  RequestOptions,
} from './object-store.js';
import { discardBody, MAX_ERROR_BODY_BYTES, readBody, readText } from './response-body.js';
import { parseAisError, statusError, transportError } from './response-errors.js';

export type AistoreClientOptions = TransportOptions;

const EMPTY = Buffer.alloc(0);
const JSON_HEADERS = { 'content-type': 'application/json' } as const;

interface Call {
  readonly method: HttpMethod;
  readonly route: string;
  readonly query?: URLSearchParams;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array | string;
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

  constructor(options: AistoreClientOptions = {}) {
    this.transport = new HttpTransport(options);
    this.send = this.transport.send;
  }

  async head(params: BaseParams, bucket: BucketRef, key: string, options?: RequestOptions): Promise<ObjectInfo> {
    const response = await this.ok(params, options, {
      method: 'HEAD',
      route: objectRoute(bucket, key),
      query: bucketQuery(bucket),
      what: `HEAD ${objectUri(bucket, key)}`,
    });
    discardBody(response.body);
    return objectInfoFromHeaders(key, response.headers);
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
        discardBody(response.body);
        return { data: EMPTY, objectSize: size, version };
      }
      return this.fail(response, what, options, size);
    }
    if (response.statusCode !== 200 && response.statusCode !== 206) return this.fail(response, what, options);
    const data = await this.readAll(response, what, options);
    if (response.statusCode === 200) return wholeObjectSlice(data, range, version);
    const contentRange = parseContentRange(headerValue(response.headers, 'content-range'));
    if (contentRange?.first !== range?.offset) {
      throw new ProtocolError(`${what}: 206 for a different range than asked`, { status: 206 });
    }
    return { data, objectSize: contentRange?.size ?? (range?.offset ?? 0) + data.length, version };
  }

  async listPage(
    params: BaseParams,
    bucket: BucketRef,
    request: ListPageRequest,
    options?: RequestOptions,
  ): Promise<ListPage> {
    const what = `list ${bucketUri(bucket)}${request.prefix ? `/${request.prefix}` : ''}`;
    const response = await this.ok(params, options, {
      method: 'GET',
      route: bucketRoute(bucket),
      query: bucketQuery(bucket),
      headers: JSON_HEADERS,
      body: listObjectsBody(request),
      what,
    });
    return this.parseJson(response, what, options, parseListResponse);
  }

  async delete(params: BaseParams, bucket: BucketRef, key: string, options?: RequestOptions): Promise<void> {
    const response = await this.ok(params, options, {
      method: 'DELETE',
      route: objectRoute(bucket, key),
      query: bucketQuery(bucket),
      what: `DELETE ${objectUri(bucket, key)}`,
    });
    discardBody(response.body);
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
    const response = await this.ok(params, options, {
      method: 'PUT',
      route: objectRoute(bucket, key),
      query: bucketQuery(bucket),
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
      what: `PUT ${objectUri(bucket, key)}`,
    });
    discardBody(response.body);
  }

  async headBucket(params: BaseParams, bucket: BucketRef, options?: RequestOptions): Promise<void> {
    const response = await this.ok(params, options, {
      method: 'HEAD',
      route: bucketRoute(bucket),
      query: bucketQuery(bucket),
      what: `HEAD ${bucketUri(bucket)}`,
    });
    discardBody(response.body);
  }

  async listBuckets(params: BaseParams, options?: RequestOptions): Promise<BucketRef[]> {
    const what = 'list buckets';
    const response = await this.ok(params, options, {
      method: 'GET',
      route: '/v1/buckets',
      query: new URLSearchParams({ provider: DEFAULT_PROVIDER }),
      headers: JSON_HEADERS,
      body: JSON.stringify({ action: 'list', name: '', value: null }),
      what,
    });
    return this.parseJson(response, what, options, parseBucketList);
  }

  async createBucket(params: BaseParams, bucket: BucketRef, options?: RequestOptions): Promise<void> {
    const response = await this.ok(params, options, {
      method: 'POST',
      route: bucketRoute(bucket),
      query: bucketQuery(bucket),
      headers: JSON_HEADERS,
      body: JSON.stringify({ action: 'create-bck', name: '', value: null }),
      what: `create ${bucketUri(bucket)}`,
    });
    discardBody(response.body);
  }

  async health(params: BaseParams, options?: RequestOptions): Promise<void> {
    const response = await this.ok(params, options, { method: 'GET', route: '/v1/health', what: 'GET health' });
    discardBody(response.body);
  }

  close(): Promise<void> {
    return this.transport.close();
  }

  /** One request with the snapshot's endpoint and headers; any status comes back. */
  private exchange(params: BaseParams, options: RequestOptions | undefined, call: Call): Promise<StoreResponse> {
    return this.send({
      method: call.method,
      target: resolveTarget(params.endpoint, call.route, call.query),
      headers: { ...params.headers, ...call.headers },
      body: call.body,
      signal: options?.signal,
      what: call.what,
    });
  }

  /** As `exchange`, but anything other than 200 becomes the typed error. */
  private async ok(params: BaseParams, options: RequestOptions | undefined, call: Call): Promise<StoreResponse> {
    const response = await this.exchange(params, options, call);
    if (response.statusCode !== 200) return this.fail(response, call.what, options);
    return response;
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
      discardBody(response.body);
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

function objectUri(bucket: BucketRef, key: string): string {
  return `${bucketUri(bucket)}/${key}`;
}

/** A 200 to a ranged GET (a server that ignores `Range`): cut the asked part out of the whole object. */
function wholeObjectSlice(data: Buffer, range: ByteRange | undefined, version: string | undefined): GetResult {
  if (range === undefined || (range.offset === 0 && range.length === undefined)) {
    return { data, objectSize: data.length, version };
  }
  const end = range.length === undefined ? data.length : Math.min(data.length, range.offset + range.length);
  return { data: data.subarray(Math.min(range.offset, data.length), end), objectSize: data.length, version };
}
