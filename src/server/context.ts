import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

/** What every route handler needs: the data folder (a realpath) and where to log. */
export interface ServerContext {
  readonly dataDir: string;
  readonly logger: Logger;
  /** The `node` field of error bodies and `Ais-Location`. */
  readonly nodeName: string;
}

/** One request after routing: raw path split into segments, query parsed. */
export interface RoutedRequest {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly method: string;
  readonly rawPath: string;
  readonly query: URLSearchParams;
}
