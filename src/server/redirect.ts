import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** How long a redirect's marker lets the target skip authentication. */
const MARKER_TTL_MS = 60_000;

/**
 * A real cluster's targets trust a proxy's redirect without a token. Here the proxy signs the redirect (method,
 * path, expiry) with a per-process key, so the marker in `utm` cannot be forged or replayed on another object.
 */
export class RedirectSigner {
  private readonly key = randomBytes(32);

  private mac(method: string, rawPath: string, expiresMs: number): string {
    return createHmac('sha256', this.key).update(`${method} ${rawPath} ${expiresMs}`).digest('hex');
  }

  marker(method: string, rawPath: string, nowMs: number = Date.now()): string {
    const expiresMs = nowMs + MARKER_TTL_MS;
    return `${expiresMs}.${this.mac(method, rawPath, expiresMs)}`;
  }

  isValid(marker: string | null, method: string, rawPath: string, nowMs: number = Date.now()): boolean {
    const match = marker === null ? null : /^(\d+)\.([0-9a-f]{64})$/.exec(marker);
    if (!match?.[1] || !match[2]) return false;
    const expiresMs = Number(match[1]);
    if (expiresMs < nowMs) return false;
    return timingSafeEqual(Buffer.from(match[2], 'hex'), Buffer.from(this.mac(method, rawPath, expiresMs), 'hex'));
  }
}

/** Proxy → target: GET is a 301, everything else a 307 (the client re-sends a PUT body). */
export function redirectStatus(method: string): 301 | 307 {
  return method === 'GET' ? 301 : 307;
}

/** The target URL with the original query plus AIStore's `pid` and `utm`. */
export function redirectLocation(targetOrigin: string, rawPath: string, query: URLSearchParams, proxyId: string, marker: string): string {
  const forwarded = new URLSearchParams(query);
  forwarded.set('pid', proxyId);
  forwarded.set('utm', marker);
  return `${targetOrigin}${rawPath}?${forwarded.toString()}`;
}

/**
 * The target's origin as this client can reach it: the host the client used for the proxy (its `Host` header)
 * with the target's port, so a server bound to 0.0.0.0 redirects remote clients to an address they can use.
 */
export function targetOriginFor(hostHeader: string | undefined, targetUrl: string): string {
  const target = new URL(targetUrl);
  const host = hostHeader?.trim().replace(/:\d+$/, '');
  if (!host || !/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)$/.test(host)) return target.origin;
  return `${target.protocol}//${host}:${target.port}`;
}
