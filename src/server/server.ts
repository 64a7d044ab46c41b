import { createServer, type Server } from 'node:http';
import { realpath, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { SecretAuthenticator } from './auth.js';
import type { ServerContext } from './context.js';
import { RedirectSigner } from './redirect.js';
import { createHandler } from './router.js';

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
  logger?: Logger;
}

export interface RunningServer {
  /** What clients use, e.g. `http://127.0.0.1:PORT` (the proxy's URL with `redirect`). */
  url: string;
  close(): Promise<void>;
}

/** Thrown when DIR is missing or not a folder, so the CLI can say so in one line. */
export class DataDirError extends Error {}

async function listen(server: Server, host: string, port: number): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${hostPart}:${address.port}`;
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
  const context: ServerContext = { dataDir, logger, nodeName: `bucketfs-${process.pid}` };
  const auth = options.authSecretFile
    ? await SecretAuthenticator.open({
        secretFile: options.authSecretFile,
        ...(options.secretCheckIntervalMs !== undefined ? { checkIntervalMs: options.secretCheckIntervalMs } : {}),
        ...(options.previousSecretGraceMs !== undefined ? { previousSecretGraceMs: options.previousSecretGraceMs } : {}),
        logger,
      })
    : undefined;
  const signer = new RedirectSigner();
  const host = options.host ?? '127.0.0.1';
  const servers: Server[] = [];
  try {
    const target = createServer({ keepAliveTimeout: 30_000 }, createHandler({ context, auth, signer }));
    servers.push(target);
    const targetUrl = await listen(target, host, options.redirect ? 0 : (options.port ?? 0));
    let url = targetUrl;
    if (options.redirect) {
      const proxy = createServer(
        { keepAliveTimeout: 30_000 },
        createHandler({ context, auth, signer, redirectTo: { origin: targetUrl, proxyId: context.nodeName } }),
      );
      servers.push(proxy);
      url = await listen(proxy, host, options.port ?? 0);
    }
    logger.info({ url, dataDir, redirect: Boolean(options.redirect), auth: Boolean(auth) }, 'serving');
    return { url, close: async () => void (await Promise.all(servers.map(closeServer))) };
  } catch (error) {
    await Promise.all(servers.map(closeServer));
    throw error;
  }
}
