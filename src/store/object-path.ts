import type { BucketRef } from './object-store.js';

/**
 * Where a request goes, kept as origin + raw path (never a `URL` object for the path: the URL parser would
 * collapse `.`/`..` segments and re-encode, and an object name must reach the server byte for byte).
 */
export interface RequestTarget {
  /** `http://host:port`, the key of the connection pool. */
  readonly origin: string;
  /** Path plus query, already escaped, starting with `/`. */
  readonly path: string;
}

export const DEFAULT_PROVIDER = 'ais';

/** Escapes each `/`-separated segment on its own, so the separators stay and everything else is literal. */
export function escapeObjectName(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}

/**
 * The `namespace` query value: AIStore's `@<uuid>#<name>`. A value that already starts with `@` is sent as is;
 * `uuid#name` gains the `@`; a bare name is a local namespace (`@#name`).
 */
export function namespaceParam(namespace: string): string {
  if (namespace.startsWith('@')) return namespace;
  if (namespace.includes('#')) return `@${namespace}`;
  return `@#${namespace}`;
}

export function bucketQuery(bucket: BucketRef): URLSearchParams {
  const query = new URLSearchParams({ provider: bucket.provider ?? DEFAULT_PROVIDER });
  if (bucket.namespace) query.set('namespace', namespaceParam(bucket.namespace));
  return query;
}

/** `ais://bucket`, `aws://bucket`, `ais://@uuid#ns/bucket`: how messages name a bucket. */
export function bucketUri(bucket: BucketRef): string {
  const namespace = bucket.namespace ? `${namespaceParam(bucket.namespace)}/` : '';
  return `${bucket.provider ?? DEFAULT_PROVIDER}://${namespace}${bucket.name}`;
}

export function objectRoute(bucket: BucketRef, key: string): string {
  return `/v1/objects/${encodeURIComponent(bucket.name)}/${escapeObjectName(key)}`;
}

export function bucketRoute(bucket: BucketRef): string {
  return `/v1/buckets/${encodeURIComponent(bucket.name)}`;
}

/** Splits an endpoint (`http://host:port[/prefix]`) and joins route and query onto its path prefix. */
export function resolveTarget(endpoint: string, route: string, query?: URLSearchParams): RequestTarget {
  const url = new URL(endpoint);
  const prefix = url.pathname.replace(/\/+$/, '');
  const search = query === undefined ? '' : query.toString();
  return { origin: url.origin, path: `${prefix}${route}${search === '' ? '' : `?${search}`}` };
}

/** Where a redirect sends us: `Location` may be absolute or relative to the request it answers. */
export function redirectTarget(from: RequestTarget, location: string): RequestTarget {
  const url = new URL(location, `${from.origin}${from.path}`);
  return { origin: url.origin, path: `${url.pathname}${url.search}` };
}
