import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { FileReplacer } from './file-replacer.js';
import type { FolderCache } from './folder-cache.js';
import type { WorkFiles } from './work-files.js';

/** What every route handler needs: the data folder (a realpath), where to log, the listings' folder cache. */
export interface ServerContext {
  readonly dataDir: string;
  readonly logger: Logger;
  /** The `node` field of error bodies and `Ais-Location`. */
  readonly nodeName: string;
  /** Sorted folder entries kept between listing pages; PUT and DELETE report their changes to it. */
  readonly folders: FolderCache;
  /** Appends in progress (`append_type=append`), until flushed or abandoned. */
  readonly workFiles: WorkFiles;
  /** Every rename onto an object's name (PUT, flush, rename-obj), and the opens that must not meet it half done. */
  readonly replacer: FileReplacer;
}

/** One request after routing: raw path split into segments, query parsed. */
export interface RoutedRequest {
  readonly request: IncomingMessage;
  readonly response: ServerResponse;
  readonly method: string;
  readonly rawPath: string;
  readonly query: URLSearchParams;
}
