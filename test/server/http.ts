import { getGlobalDispatcher } from 'undici';
import type { IncomingHttpHeaders } from 'node:http';

export interface HttpAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
}

export interface HttpCall {
  readonly method?: 'GET' | 'HEAD' | 'PUT' | 'DELETE' | 'POST';
  /** Sent byte for byte: no URL parsing, so `..` and escapes reach the server as written. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Buffer;
}

/** One request to `url` (an origin), without following redirects. */
export async function http(url: string, call: HttpCall): Promise<HttpAnswer> {
  const answer = await getGlobalDispatcher().request({
    origin: url,
    path: call.path,
    method: call.method ?? 'GET',
    headers: call.headers ?? {},
    body: call.body ?? null,
  });
  const body = Buffer.from(await answer.body.arrayBuffer());
  return { status: answer.statusCode, headers: answer.headers, body, text: body.toString('utf8') };
}

export function objectPath(bucket: string, name: string, query = 'provider=ais'): string {
  return `/v1/objects/${encodeURIComponent(bucket)}/${name.split('/').map(encodeURIComponent).join('/')}?${query}`;
}

export function listBody(value: Record<string, unknown>): string {
  return JSON.stringify({ action: 'list', name: '', value });
}

/** Parses an error body (or `Hdr-Error` on HEAD). */
export function errorOf(answer: HttpAnswer): { status: number; message: string } {
  const raw = answer.text !== '' ? answer.text : String(answer.headers['hdr-error'] ?? '');
  return JSON.parse(raw) as { status: number; message: string };
}
