import type { RequestTarget } from './object-path.js';
import type { AppendHandle } from './object-store.js';

/** What this client keeps with a handle: where the next chunk must go. */
class ClientAppendHandle implements AppendHandle {
  constructor(
    readonly handle: string,
    readonly target: string | undefined,
  ) {}
}

/** The handle for what follows a chunk; `from` is where the answer came from, kept so the next chunk goes there. */
export function nextAppendHandle(handle: string, from: string | RequestTarget | undefined): AppendHandle {
  const target = typeof from === 'string' || from === undefined ? from : `${from.origin}${withoutQuery(from.path)}`;
  return new ClientAppendHandle(handle, target);
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
