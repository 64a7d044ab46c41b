import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecretAuthenticator } from './auth.js';
import { existingBucketDir } from './bucket-dir.js';
import { handleBucket, handleBucketList } from './bucket-routes.js';
import type { RoutedRequest, ServerContext } from './context.js';
import { BadRequestError, HttpError, MethodNotAllowedError, NotFoundError, fromFsError, sendError } from './errors.js';
import { resetMidBody } from './fault-reset.js';
import { injectedError, type FaultInjector } from './faults.js';
import { checkRequestLimits, MAX_OBJECT_NAME_BYTES } from './request-limits.js';
import { handleObject, type ObjectAddress } from './object-routes.js';
import { RedirectSigner, redirectLocation, redirectStatus, targetOriginFor } from './redirect.js';
import { decodeBucketName, decodeSegment } from './safe-path.js';

/** Where a request goes, decided from the raw path alone (never normalized: `..` must be seen to be refused). */
export type Route =
  | { readonly kind: 'health' }
  | { readonly kind: 'bucket-list' }
  | { readonly kind: 'bucket'; readonly bucket: string }
  | { readonly kind: 'object'; readonly address: ObjectAddress };

export function routeOf(rawPath: string): Route {
  const segments = rawPath.split('/');
  if (segments[0] !== '' || segments[1] !== 'v1') throw new NotFoundError(`no such API path: ${rawPath}`);
  const rest = segments.slice(2);
  // `/v1/buckets/b/` and `/v1/health/` mean the same without the slash; on an object it would name a marker.
  if (rest[0] !== 'objects' && rest.length > 1 && rest[rest.length - 1] === '') rest.pop();
  const [kind, bucketRaw, ...objectRaw] = rest;
  if (kind === 'health' && rest.length === 1) return { kind: 'health' };
  if (kind === 'buckets' && rest.length === 1) return { kind: 'bucket-list' };
  if (kind === 'buckets' && rest.length === 2 && bucketRaw !== undefined) return { kind: 'bucket', bucket: decodeBucketName(bucketRaw) };
  if (kind === 'objects' && bucketRaw !== undefined) {
    const bucket = decodeBucketName(bucketRaw);
    const isMarker = objectRaw.length > 1 && objectRaw[objectRaw.length - 1] === '';
    if (isMarker) objectRaw.pop();
    if (objectRaw.length === 0 || (objectRaw.length === 1 && objectRaw[0] === '')) throw new BadRequestError('missing object name');
    const what = `object name in ${rawPath}`;
    const segments = objectRaw.map((segment) => decodeSegment(segment, what));
    if (Buffer.byteLength(segments.join('/')) > MAX_OBJECT_NAME_BYTES) {
      throw new BadRequestError(`object name longer than ${MAX_OBJECT_NAME_BYTES} bytes`);
    }
    return { kind: 'object', address: { bucket, segments, isMarker } };
  }
  throw new NotFoundError(`no such API path: ${rawPath}`);
}

/** Applies the request's fault, if any; false when the request is done with (its connection dropped). */
async function injectFault(faults: FaultInjector, request: IncomingMessage, response: ServerResponse): Promise<boolean> {
  const action = faults.next();
  switch (action.kind) {
    case 'none':
      return true;
    case 'reset-before-headers':
      request.socket.destroy();
      return false;
    case 'reset-mid-body':
      resetMidBody(request, response, action.cutFraction);
      return true;
    case 'status':
      throw injectedError(action.status);
    case 'slow':
      await new Promise((resolve) => setTimeout(resolve, action.delayMs));
      return true;
  }
}

export interface HandlerOptions {
  readonly context: ServerContext;
  readonly auth: SecretAuthenticator | undefined;
  readonly signer: RedirectSigner;
  /** Set on the proxy listener: object calls are redirected to this origin. */
  readonly redirectTo?: { readonly origin: string; readonly proxyId: string };
  /** Injects failures into object, bucket and listing requests (never health). */
  readonly faults?: FaultInjector;
}

function bucketOf(route: Route): string | undefined {
  if (route.kind === 'bucket') return route.bucket;
  if (route.kind === 'object') return route.address.bucket;
  return undefined;
}

/** The request handler of one listener: route, authenticate, then serve or redirect. */
export function createHandler(options: HandlerOptions): (request: IncomingMessage, response: ServerResponse) => void {
  const { context } = options;
  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const rawPath = queryAt < 0 ? url : url.slice(0, queryAt);
    const query = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
    const routed: RoutedRequest = { request, response, method: request.method ?? 'GET', rawPath, query };
    checkRequestLimits(request, url);
    const route = routeOf(rawPath);
    if (route.kind === 'health') {
      if (routed.method !== 'GET' && routed.method !== 'HEAD') throw new MethodNotAllowedError(routed.method, rawPath);
      response.writeHead(200, { 'Content-Length': 0 });
      response.end();
      return;
    }
    // A redirect is not faulted: the target it leads to is, so one request meets at most one fault.
    const redirecting = route.kind === 'object' && options.redirectTo !== undefined;
    if (options.faults && !redirecting && !(await injectFault(options.faults, request, response))) return;
    // As on AIStore, a missing bucket is a 404 even without a token.
    const bucket = bucketOf(route);
    if (bucket !== undefined && !(route.kind === 'bucket' && routed.method === 'POST')) await existingBucketDir(context.dataDir, bucket);
    const redirected = options.signer.isValid(query.get('utm'), routed.method, rawPath);
    if (options.auth && !redirected) await options.auth.authenticate(request);
    if (route.kind === 'object' && options.redirectTo) {
      const marker = options.signer.marker(routed.method, rawPath);
      response.writeHead(redirectStatus(routed.method), {
        Location: redirectLocation(targetOriginFor(request.headers.host, options.redirectTo.origin), rawPath, query, options.redirectTo.proxyId, marker),
        'Content-Length': 0,
      });
      response.end();
      return;
    }
    switch (route.kind) {
      case 'bucket-list':
        return handleBucketList(context, routed);
      case 'bucket':
        return handleBucket(context, routed, route.bucket);
      case 'object':
        return handleObject(context, routed, route.address);
    }
  }
  return (request, response) => {
    handle(request, response).catch((error: unknown) => {
      // The query is left out of logs: a redirect's `utm` marker briefly stands in for a token.
      const path = (request.url ?? '').split('?')[0];
      const httpError = error instanceof HttpError ? error : fromFsError(error, `${request.method} ${path}`);
      if (httpError.status >= 500) context.logger.error({ err: error, method: request.method, path }, 'request failed');
      else context.logger.debug({ status: httpError.status, method: request.method, path, reason: httpError.message }, 'request refused');
      // An unread request body (a refused PUT) is drained by node once the response is done.
      sendError(request, response, httpError, context.nodeName);
    });
  };
}
