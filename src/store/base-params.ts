import type { RejectionCause } from './rejection-cause.js';

/**
 * The seam between credentials and the object-store client: every call is made with one immutable
 * snapshot of where to go and which headers to send. `auth/` provides a rotating source; tests and
 * anonymous setups use `staticParams`.
 */
export interface BaseParams {
  /** Origin plus optional path prefix, without a trailing slash, e.g. `http://127.0.0.1:51080`. */
  readonly endpoint: string;
  /** Headers sent on every request (`Authorization`, custom headers). Never logged. */
  readonly headers: Readonly<Record<string, string>>;
}

export interface BaseParamsSource {
  /** The snapshot to use for the next request; cheap on the hot path. */
  current(): Promise<BaseParams>;
  /**
   * The store rejected `rejected` (401). The next `current()` must reload the credentials,
   * unless a newer snapshot than `rejected` is already in force.
   */
  invalidate(rejected: BaseParams): void;
  /**
   * The store still refuses `rejected` after a reload: resolves with newer credentials once they appear, or
   * undefined when the wait is off, over, or `signal` aborted. Absent: never wait.
   */
  newerThan?(rejected: BaseParams, signal?: AbortSignal): Promise<BaseParams | undefined>;
  /** Why the store may have refused `rejected`, for the error the caller finally gets. */
  rejectionCause?(rejected: BaseParams): RejectionCause;
}

export function staticParams(endpoint: string, headers: Record<string, string> = {}): BaseParamsSource {
  const snapshot: BaseParams = Object.freeze({ endpoint: endpoint.replace(/\/+$/, ''), headers: Object.freeze({ ...headers }) });
  return {
    current: async () => snapshot,
    invalidate: () => {},
  };
}
