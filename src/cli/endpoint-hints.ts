import { isIP } from 'node:net';
import { connect } from 'node:tls';
import { StoreError } from '../store/errors.js';
import { PlainHttpReplyError } from '../store/http-transport.js';

/** How long the check whether an http:// endpoint speaks TLS may take. */
const TLS_PROBE_TIMEOUT_MS = 2_000;

/** The message and the codes of an error and of its causes, as one text to search. */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    parts.push(current.message, String((current as NodeJS.ErrnoException).code ?? ''));
  }
  return parts.join(' ');
}

/** The answers of `speaksTls` by host and port: a failed check asks once more at its end, and gets the same one. */
const tlsAnswers = new Map<string, Promise<boolean>>();

/** Whether `host:port` completes a TLS handshake (any certificate: only the protocol is in question). */
function speaksTls(url: URL): Promise<boolean> {
  let answer = tlsAnswers.get(url.host);
  if (answer === undefined) {
    answer = probeTls(url);
    tlsAnswers.set(url.host, answer);
  }
  return answer;
}

function probeTls(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    // SNI takes host names only; Node warns when given an address.
    const socket = connect({ host, port: Number(url.port || 80), ...(isIP(host) === 0 ? { servername: host } : {}), rejectUnauthorized: false });
    const done = (answer: boolean): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(TLS_PROBE_TIMEOUT_MS, () => done(false));
    socket.once('secureConnect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * The scheme of an endpoint that does not speak it, in words, when that is why the store could not be reached:
 * https:// to a plain HTTP server (OpenSSL says so), or http:// to a TLS server (a handshake there succeeds).
 */
export async function schemeMismatchHint(endpoint: string, error: unknown): Promise<string | undefined> {
  if (!(error instanceof StoreError) || (error.code !== 'NETWORK' && error.code !== 'TIMEOUT')) return undefined;
  const url = new URL(endpoint);
  const withScheme = (scheme: string): string => `${scheme}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
  if (url.protocol === 'https:' && error instanceof PlainHttpReplyError) {
    return `endpoint ${endpoint} answers in plain HTTP, not HTTPS (TLS): use ${withScheme('http:')}`;
  }
  if (url.protocol === 'http:' && !/ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(errorText(error)) && (await speaksTls(url))) {
    return `endpoint ${endpoint} speaks HTTPS (TLS), not plain HTTP: use ${withScheme('https:')}`;
  }
  return undefined;
}
