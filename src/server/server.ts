import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { readFile, realpath, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { SecretAuthenticator } from './auth.js';
import type { ServerContext } from './context.js';
import { FaultInjector, type FaultOptions } from './faults.js';
import { DEFAULT_FOLDER_CACHE, FolderCache, type FolderCacheOptions } from './folder-cache.js';
import { RedirectSigner } from './redirect.js';
import { createHandler } from './router.js';
import { DEFAULT_WORK_FILE_IDLE_MS, WorkFiles } from './work-files.js';
import { FileReplacer } from './file-replacer.js';

export interface ServerOptions {
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 = an ephemeral port. */
  port?: number;
  /** Also run a "target" listener; this one (the "proxy") redirects object calls to it, as a cluster does. */
  redirect?: boolean;
  /** Require `Authorization: Bearer <HS256 JWT>` signed with this file's (trimmed) content. */
  authSecretFile?: string;
  /** At most one stat of the secret file per this many ms (default 500). */
  secretCheckIntervalMs?: number;
  /** Tokens signed with the secret before a rotation stay valid this long (default 30 s; 0 = never). */
  previousSecretGraceMs?: number;
  /** Inject failures (resets, 500/503, delays) into a share of the object and listing requests. */
  faults?: FaultOptions;
  /** Serve HTTPS with this PEM certificate (chain) and key; both listeners with `redirect`. */
  tls?: ServerTlsOptions;
  /** Bounds of the folder entries kept between listing pages (default DEFAULT_FOLDER_CACHE). */
  folderCache?: Partial<FolderCacheOptions>;
  /** An append's work file unused this long is removed (default DEFAULT_WORK_FILE_IDLE_MS). */
  workFileIdleMs?: number;
  logger?: Logger;
}

export interface ServerTlsOptions {
  certFile: string;
  keyFile: string;
}

export interface RunningServer {
  /** What clients use, e.g. `http://127.0.0.1:PORT` (the proxy's URL with `redirect`; `https://` with `tls`). */
  url: string;
  /** With `redirect`: the target listener the proxy sends object calls to. */
  targetUrl?: string;
  close(): Promise<void>;
}

type Handler = (request: IncomingMessage, response: ServerResponse) => void;
type Server = ReturnType<typeof createServer> | ReturnType<typeof createTlsServer>;

/** Thrown when the TLS certificate or key cannot be read, so the CLI can say so in one line. */
export class TlsFilesError extends Error {}

async function serverFactory(tls: ServerTlsOptions | undefined): Promise<(handler: Handler) => Server> {
  const keepAlive = { keepAliveTimeout: 30_000 };
  if (tls === undefined) return (handler) => createServer(keepAlive, handler);
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile)]);
  } catch (error) {
    throw new TlsFilesError(`cannot read TLS certificate ${tls.certFile} or key ${tls.keyFile}: ${(error as Error).message}`, { cause: error });
  }
  return (handler) => createTlsServer({ ...keepAlive, cert, key }, handler);
}

/** Thrown when DIR is missing or not a folder, so the CLI can say so in one line. */
export class DataDirError extends Error {}

async function listen(server: Server, host: string, port: number, scheme: 'http' | 'https'): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `${scheme}://${hostPart}:${address.port}`;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections would hold close() open until they time out.
    server.closeAllConnections();
  });
}

/** Serves `dataDir` over AIStore's HTTP API: buckets are its top-level folders, objects the files below. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  let dataDir: string;
  try {
    dataDir = await realpath(options.dataDir);
    if (!(await stat(dataDir)).isDirectory()) throw new Error('not a folder');
  } catch (error) {
    throw new DataDirError(`data folder ${options.dataDir} is missing or not a folder`, { cause: error });
  }
  const logger = options.logger ?? pino({ level: 'silent' });
  const replacer = new FileReplacer(dataDir, logger);
  const folders = new FolderCache(dataDir, { ...DEFAULT_FOLDER_CACHE, ...options.folderCache }, replacer);
  // Before the work folders' sweep, which would take the files an unfinished replace displaced for abandoned.
  await replacer.recover();
  const workFiles = new WorkFiles(dataDir, options.workFileIdleMs ?? DEFAULT_WORK_FILE_IDLE_MS, logger);
  const context: ServerContext = { dataDir, logger, nodeName: `bucketfs-${process.pid}`, folders, workFiles, replacer };
  const auth = options.authSecretFile
    ? await SecretAuthenticator.open({
        secretFile: options.authSecretFile,
        ...(options.secretCheckIntervalMs !== undefined ? { checkIntervalMs: options.secretCheckIntervalMs } : {}),
        ...(options.previousSecretGraceMs !== undefined ? { previousSecretGraceMs: options.previousSecretGraceMs } : {}),
        logger,
      })
    : undefined;
  const signer = new RedirectSigner();
  const faults = options.faults && options.faults.rate > 0 ? new FaultInjector(options.faults) : undefined;
  const host = options.host ?? '127.0.0.1';
  const scheme = options.tls ? 'https' : 'http';
  const makeServer = await serverFactory(options.tls);
  const servers: Server[] = [];
  try {
    const target = makeServer(createHandler({ context, auth, signer, ...(faults ? { faults } : {}) }));
    servers.push(target);
    const targetUrl = await listen(target, host, options.redirect ? 0 : (options.port ?? 0), scheme);
    let url = targetUrl;
    if (options.redirect) {
      const proxy = makeServer(createHandler({ context, auth, signer, redirectTo: { origin: targetUrl, proxyId: context.nodeName }, ...(faults ? { faults } : {}) }));
      servers.push(proxy);
      url = await listen(proxy, host, options.port ?? 0, scheme);
    }
    logger.info({ url, dataDir, redirect: Boolean(options.redirect), auth: Boolean(auth), tls: Boolean(options.tls), faults: options.faults }, 'serving');
    return {
      url,
      ...(options.redirect ? { targetUrl } : {}),
      close: async () => {
        await Promise.all(servers.map(closeServer));
        await workFiles.close();
        await replacer.close();
      },
    };
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    await workFiles.close();
    await replacer.close();
    throw error;
  }
}
