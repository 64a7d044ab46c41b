import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { Agent } from 'undici';
import { undiciAgent } from './undici-agent.js';
import { abortError, BufferingHandler, type ResponseBody } from './buffered-response.js';
import { DirectGetAgent } from './direct-get.js';
import { NetworkError, ProtocolError } from './errors.js';
import { redirectTarget, type RequestTarget } from './object-path.js';
import type { BodyBufferSource, UploadSource } from './object-store.js';
import { transportError } from './response-errors.js';
import { isUploadSource, UploadBody } from './upload-body.js';

export interface TlsOptions {
  /** PEM file of the CA that signed the cluster's certificate (`AIS_CLIENT_CA`). */
  readonly caFile?: string;
  /** Accept any certificate (`AIS_SKIP_VERIFY_CRT`); for test clusters only. */
  readonly insecureSkipVerify?: boolean;
}

export interface TransportOptions {
  /** Keep-alive connections per origin (the proxy and each target is an origin). Default 32. */
  readonly connectionsPerOrigin?: number;
  readonly connectTimeoutMs?: number;
  /** From the request's last byte to the response headers; 0 disables. */
  readonly headersTimeoutMs?: number;
  /** Longest silence between two body chunks; 0 disables. */
  readonly bodyTimeoutMs?: number;
  readonly tls?: TlsOptions;
  readonly logger?: Logger;
  /**
   * Object GETs over plain HTTP read their body straight into one buffer (`direct-get.ts`) rather than through
   * undici. Default true; false sends everything through undici (for comparison, and as a way out).
   */
  readonly directGet?: boolean;
}

export const DEFAULT_CONNECTIONS_PER_ORIGIN = 32;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
export const DEFAULT_BODY_TIMEOUT_MS = 60_000;
/** As AIStore's Go SDK: a proxy → target hop is one, so 10 leaves room for a re-routed cluster. */
export const MAX_REDIRECTS = 10;

const REDIRECT_STATUSES = new Set([301, 302, 307, 308]);

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'POST';

export interface StoreRequest {
  readonly method: HttpMethod;
  readonly target: RequestTarget;
  /** Sent on every hop, `Authorization` included (a target ignores it; harmless). Never logged. */
  readonly headers: Readonly<Record<string, string>>;
  /** In memory, or a source opened afresh on every redirect hop, so each hop can send it again. */
  readonly body?: Uint8Array | string | UploadSource;
  readonly signal?: AbortSignal;
  /** Where a GET's successful body may go; see `RequestOptions.bodyBuffer`. */
  readonly bodyBuffer?: BodyBufferSource;
  /** Names the call in errors and logs, e.g. `GET ais://b/key`. */
  readonly what: string;
}

export type { ResponseBody } from './buffered-response.js';

export interface StoreResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  /** Gathered in memory behind the headers; discard it when it is of no use, to drop what is kept. */
  readonly body: ResponseBody;
  /** Where the answer came from, after redirects (absent from answers not made by `HttpTransport`). */
  readonly from?: RequestTarget;
}

/**
 * One HTTP exchange with redirects followed, any status returned, transport failures typed. The seam a retry
 * policy wraps: it is a plain function of the request.
 */
export type Send = (request: StoreRequest) => Promise<StoreResponse>;

/**
 * Connections for the client. An undici `Agent` keeps one keep-alive `Pool` per origin, created on first use:
 * that is exactly the per-origin pooling a proxy + targets cluster needs (each redirect target is its own
 * origin), without a hand-kept map.
 */
export class HttpTransport {
  private readonly agent: Agent;
  private readonly direct: DirectGetAgent | undefined;
  private readonly logger: Logger | undefined;

  constructor(options: TransportOptions = {}) {
    this.logger = options.logger;
    const limits = {
      connectionsPerOrigin: options.connectionsPerOrigin ?? DEFAULT_CONNECTIONS_PER_ORIGIN,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: options.bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS,
    };
    this.agent = new (undiciAgent())({
      connections: limits.connectionsPerOrigin,
      headersTimeout: limits.headersTimeoutMs,
      bodyTimeout: limits.bodyTimeoutMs,
      connect: { timeout: limits.connectTimeoutMs, ...tlsConnectOptions(options.tls) },
    });
    this.direct = options.directGet === false ? undefined : new DirectGetAgent(limits);
  }

  readonly send: Send = async (request) => {
    let target = request.target;
    for (let hop = 0; ; hop += 1) {
      const response = await this.exchange(request, target);
      const location = REDIRECT_STATUSES.has(response.statusCode) ? firstHeader(response.headers.location) : undefined;
      if (location === undefined) return { statusCode: response.statusCode, headers: response.headers, body: response.body, from: target };
      response.body.discard();
      if (hop === MAX_REDIRECTS) {
        throw new ProtocolError(`${request.what}: more than ${MAX_REDIRECTS} redirects`, { status: response.statusCode });
      }
      target = redirectTarget(target, location);
      this.logger?.trace({ what: request.what, status: response.statusCode, origin: target.origin }, 'store redirect');
    }
  };

  async close(): Promise<void> {
    await this.direct?.close();
    await this.agent.close();
  }

  private async exchange(request: StoreRequest, target: RequestTarget): Promise<StoreResponse> {
    const upload = isUploadSource(request.body) ? new UploadBody(request.body, request.what) : undefined;
    try {
      if (request.signal?.aborted) throw abortError(request.signal);
      if (this.direct !== undefined && DirectGetAgent.takes(request.method, request.body, target, request.headers)) {
        const response = await this.direct.exchange(target, request);
        if (response !== undefined) return response;
      }
      const handler = new BufferingHandler(request.signal);
      this.agent.dispatch(
        {
          origin: target.origin,
          path: target.path,
          method: request.method,
          headers: upload === undefined ? request.headers : { ...request.headers, 'content-length': String(upload.sizeBytes) },
          body: upload === undefined ? ((request.body as Uint8Array | string | undefined) ?? null) : upload.stream(),
          // undici closes the connection after a HEAD (for servers that send a body anyway) and after a GET
          // with a body (AIStore's listing). AIStore, being Go's net/http, does neither wrong; keep the socket.
          reset: false,
        },
        handler,
      );
      return await handler.response;
    } catch (error) {
      if (upload?.failure !== undefined) throw upload.failure;
      throw certificateError(error, request.what) ?? plainHttpReplyError(error, request.what) ?? transportError(error, request.what, request.signal);
    }
  }
}

/** A certificate the client does not trust: retrying cannot help, and the user must hear what to do. */
export class TlsCertificateError extends NetworkError {
  override get retryable(): boolean {
    return false;
  }
}

const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** An https:// endpoint whose server answered in plain HTTP: the same port answers the same way again. */
export class PlainHttpReplyError extends NetworkError {
  override get retryable(): boolean {
    return false;
  }
}

/** OpenSSL's codes for a TLS client that got plain HTTP back. */
const PLAIN_HTTP_REPLY_CODES = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_HTTP_REQUEST']);

function plainHttpReplyError(error: unknown, what: string): PlainHttpReplyError | undefined {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code !== undefined && PLAIN_HTTP_REPLY_CODES.has(code)) {
      return new PlainHttpReplyError(`${what}: the server answered in plain HTTP, not HTTPS (${code})`, { cause: error });
    }
  }
  return undefined;
}

function certificateError(error: unknown, what: string): TlsCertificateError | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !CERTIFICATE_CODES.has(code)) return undefined;
  return new TlsCertificateError(
    `${what}: the server's TLS certificate is not trusted (${code}); give its CA with --ca-file (AIS_CLIENT_CA), ` +
      'or for a test cluster --insecure-skip-verify (AIS_SKIP_VERIFY_CRT)',
    { cause: error },
  );
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function tlsConnectOptions(tls: TlsOptions | undefined): { ca?: Buffer; rejectUnauthorized?: boolean } {
  if (tls === undefined) return {};
  return {
    ...(tls.caFile === undefined ? {} : { ca: readFileSync(tls.caFile) }),
    ...(tls.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
  };
}
