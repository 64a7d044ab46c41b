import { createHash, type Hash } from 'node:crypto';
import type { RequestTarget } from './object-path.js';
import type { AppendHandle } from './object-store.js';

/** The checksum an append's flush declares; one the server can verify (AIStore and `bucketfs serve` both can). */
const APPEND_CHECKSUM_TYPE = 'sha256';

/** What this client keeps with a handle: the checksum of the bytes appended up to it. */
class ClientAppendHandle implements AppendHandle {
  constructor(
    readonly handle: string,
    readonly target: string | undefined,
    readonly state: AppendState,
  ) {}
}

/**
 * The bytes behind one handle, as a running checksum. Each handle has its own (a copy taken per chunk), so a chunk
 * sent again from an older handle is counted once. A handle made elsewhere has none, and its flush declares none.
 */
export class AppendState {
  private constructor(private readonly hash: Hash | undefined) {}

  static of(handle: AppendHandle | undefined): AppendState {
    if (handle === undefined) return new AppendState(createHash(APPEND_CHECKSUM_TYPE));
    return handle instanceof ClientAppendHandle ? handle.state : new AppendState(undefined);
  }

  /** The handle for what follows `chunk`; `from` is where the answer came from, kept so the next chunk goes there. */
  next(handle: string, from: string | RequestTarget | undefined, chunk: Uint8Array): AppendHandle {
    const hash = this.hash?.copy().update(chunk);
    const target = typeof from === 'string' || from === undefined ? from : `${from.origin}${withoutQuery(from.path)}`;
    return new ClientAppendHandle(handle, target, new AppendState(hash));
  }

  checksumHeaders(): Record<string, string> {
    if (this.hash === undefined) return {};
    return { 'ais-checksum-type': APPEND_CHECKSUM_TYPE, 'ais-checksum-value': this.hash.copy().digest('hex') };
  }
}

function withoutQuery(path: string): string {
  const queryAt = path.indexOf('?');
  return queryAt < 0 ? path : path.slice(0, queryAt);
}

/** The target an earlier append was answered by, as `origin + path`. */
export function appendTarget(target: string): RequestTarget {
  const origin = new URL(target).origin;
  return { origin, path: target.slice(origin.length) };
}

export function appendQuery(base: URLSearchParams, handle: AppendHandle | undefined): URLSearchParams {
  const query = new URLSearchParams(base);
  query.set('append_type', 'append');
  query.set('append_handle', handle?.handle ?? '');
  return query;
}

export function flushQuery(base: URLSearchParams, handle: AppendHandle): URLSearchParams {
  const query = new URLSearchParams(base);
  query.set('append_type', 'flush');
  query.set('append_handle', handle.handle);
  return query;
}
