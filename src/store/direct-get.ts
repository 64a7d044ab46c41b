import type { IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import {
  abortError,
  DISCARD_LIMIT_BYTES,
  MAX_ERROR_BODY_BYTES,
  PendingAnswer,
  type BufferedResponse,
} from './buffered-response.js';
import type { RequestTarget } from './object-path.js';
import { offeredBuffers, type BodyBufferSource } from './object-store.js';

/**
 * A GET over plain HTTP whose body the kernel writes straight into the one buffer that will hold it.
 *
 * Why it exists: a ranged GET through undici costs 1.3–1.7 CPU-seconds per GiB in the mount process (its parser
 * sees every 64 KiB chunk, and each chunk is a fresh Buffer for the GC), which is most of what the mount spends on
 * a sequential read. Reading the socket with `onread` into a buffer sized by `Content-Length` costs about
 * 0.45 (measured against `bucketfs serve` on loopback), and leaves one object for the GC per part instead of 128.
 *
 * It takes only what it does well: a GET without a body, to an `http:` origin, answered with a
 * `Content-Length` framed body. Anything else (`https:`, a chunked or close-delimited answer) is declined, and the
 * caller sends the request through its general client; a GET may be sent twice.
 */
export interface DirectGetOptions {
  readonly connectionsPerOrigin: number;
  readonly connectTimeoutMs: number;
  /** From the request's last byte to the response headers; 0 disables. */
  readonly headersTimeoutMs: number;
  /** Longest silence while a body is coming; 0 disables. */
  readonly bodyTimeoutMs: number;
}

export interface DirectGetRequest {
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
  readonly bodyBuffer?: BodyBufferSource;
}

const NO_BYTES = Buffer.alloc(0);
/** The header block of an answer may not be larger than this (as Node's own limit). */
const MAX_HEADER_BYTES = 16 * 1024;
/** Reads that do not go straight into a body land here: header blocks, and bytes of a body nobody keeps. */
const SCRATCH_BYTES = 64 * 1024;
/** An unused connection is closed after this long, before a server's own keep-alive timeout (Node's: 5 s). */
const IDLE_CLOSE_MS = 4_000;
/** A larger 2xx body is left to the general client, which keeps it in chunks. */
const MAX_DIRECT_BODY_BYTES = 1024 * 1024 * 1024;

/** The answer is framed in a way this path leaves to the general client. */
class Declined extends Error {}

/** A reused connection that the server had closed: the request never reached it, so it goes on a fresh one. */
class StaleConnection extends Error {}

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function closedError(): Error {
  return codedError('the client is closed', 'UND_ERR_DESTROYED');
}

export class DirectGetAgent {
  private readonly origins = new Map<string, OriginConnections>();
  private closed = false;

  constructor(private readonly options: DirectGetOptions) {}

  /** Whether `exchange` may take this request at all. */
  static takes(method: string, body: unknown, target: RequestTarget, headers: Readonly<Record<string, string>>): boolean {
    return method === 'GET' && body === undefined && target.origin.startsWith('http:') && Object.entries(headers).every(isSendableHeader);
  }

  /** The answer, or undefined when its framing is one for the general client (the request is then to be sent there). */
  async exchange(target: RequestTarget, request: DirectGetRequest): Promise<BufferedResponse | undefined> {
    if (this.closed) throw closedError();
    const origin = this.connectionsTo(target.origin);
    const head = Buffer.from(requestHead(target.path, origin.hostHeader, request.headers), 'latin1');
    for (let fresh = false; ; fresh = true) {
      const connection = await origin.acquire(request.signal, fresh);
      try {
        return await connection.run(head, request);
      } catch (error) {
        if (error instanceof Declined) return undefined;
        if (error instanceof StaleConnection && !fresh) continue;
        throw error;
      }
    }
  }

  close(): Promise<void> {
    this.closed = true;
    for (const origin of this.origins.values()) origin.close();
    this.origins.clear();
    return Promise.resolve();
  }

  private connectionsTo(origin: string): OriginConnections {
    let connections = this.origins.get(origin);
    if (connections === undefined) {
      connections = new OriginConnections(new URL(origin), this.options);
      this.origins.set(origin, connections);
    }
    return connections;
  }
}

interface Waiter {
  readonly resolve: (connection: Connection) => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** The keep-alive connections to one origin, at most `connectionsPerOrigin` of them; callers beyond wait in turn. */
class OriginConnections {
  readonly hostHeader: string;
  private readonly host: string;
  private readonly port: number;
  private readonly idle: Connection[] = [];
  private readonly waiters: Waiter[] = [];
  private open = 0;
  private closed = false;

  constructor(
    url: URL,
    private readonly options: DirectGetOptions,
  ) {
    this.hostHeader = url.host;
    this.host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = url.port === '' ? 80 : Number(url.port);
  }

  /** An idle connection (the most recently used: the least likely to have been closed by the server), or a new one. */
  acquire(signal: AbortSignal | undefined, fresh: boolean): Promise<Connection> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (!fresh) {
      const idle = this.idle.pop();
      if (idle !== undefined) return Promise.resolve(idle);
    }
    if (this.open < this.options.connectionsPerOrigin || fresh) return this.connect(signal);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(abortError(signal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Idle connections close now; a connection still reading an answer closes when the answer is read. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) waiter.reject(closedError());
    for (const connection of this.idle.splice(0)) connection.destroy();
  }

  /** A new connection; an abort of `signal` while it connects ends the attempt (a call's deadline must not wait for the connect timeout). */
  private connect(signal: AbortSignal | undefined): Promise<Connection> {
    this.open += 1;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => connection.destroy(abortError(signal));
      const connection = new Connection(this.host, this.port, this.options, {
        connected: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(connection);
        },
        failedToConnect: (error) => {
          signal?.removeEventListener('abort', onAbort);
          this.open -= 1;
          reject(error);
          this.serveNextWaiter();
        },
        idle: () => this.release(connection),
        closed: () => this.forget(connection),
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private release(connection: Connection): void {
    if (this.closed) {
      connection.destroy();
      return;
    }
    const waiter = this.nextWaiter();
    if (waiter === undefined) this.idle.push(connection);
    else waiter.resolve(connection);
  }

  private forget(connection: Connection): void {
    this.open -= 1;
    const at = this.idle.indexOf(connection);
    if (at >= 0) this.idle.splice(at, 1);
    this.serveNextWaiter();
  }

  /** A connection slot came free: the first waiter gets a new connection. */
  private serveNextWaiter(): void {
    const waiter = this.nextWaiter();
    if (waiter !== undefined) this.connect(waiter.signal).then(waiter.resolve, waiter.reject);
  }

  /** The longest-waiting caller, no longer listening for its abort; undefined when nobody waits. */
  private nextWaiter(): Waiter | undefined {
    const waiter = this.waiters.shift();
    waiter?.signal?.removeEventListener('abort', waiter.onAbort);
    return waiter;
  }
}

interface ConnectionEvents {
  connected(): void;
  failedToConnect(error: unknown): void;
  /** The answer was read whole and the connection may carry another request. */
  idle(): void;
  closed(): void;
}

/** How the body of the answer being read is framed, and where its bytes go. */
interface Body {
  /** Where the kept bytes go, filled in turn: a 2xx body whole, an error body up to `MAX_ERROR_BODY_BYTES`. */
  readonly buffers: readonly Buffer[];
  /** Bytes the buffers take in all. */
  readonly capacity: number;
  /** Bytes of the body on the wire, kept or not. */
  readonly length: number;
  /** Bytes of it read so far. */
  read: number;
  /** The buffer the next kept byte goes to, and the body offset it starts at. */
  current: number;
  currentStart: number;
  discarded: boolean;
  /** The buffer is memory the caller offered (`bodyBuffer`), to be reused by it once the exchange ends. */
  readonly inCallersMemory: boolean;
}

/** One request at a time on one socket, read with `onread` so that body bytes land in their buffer directly. */
class Connection {
  private readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  private connected = false;
  private used = false;
  private closing = false;
  private socketError: unknown;
  /** Set while a request is out. */
  private active: Exchange | undefined;

  constructor(
    host: string,
    port: number,
    private readonly options: DirectGetOptions,
    private readonly events: ConnectionEvents,
  ) {
    this.socket = connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.nextReadBuffer(), callback: (bytes: number) => this.onRead(bytes) },
    });
    this.socket.setTimeout(options.connectTimeoutMs);
    this.socket.once('connect', () => {
      this.connected = true;
      this.socket.setTimeout(0);
      this.events.connected();
    });
    this.socket.on('timeout', () => this.onTimeout());
    this.socket.on('error', (error) => {
      this.socketError = error;
    });
    this.socket.once('close', () => this.onClose());
  }

  /** Sends the request; resolves with status and headers, the body following in `response.body.received`. */
  run(head: Buffer, request: DirectGetRequest): Promise<BufferedResponse> {
    const signal = request.signal;
    const exchange = new Exchange(request, this.used, () => this.destroy(abortError(signal)));
    this.active = exchange;
    this.used = true;
    this.socket.ref();
    this.socket.setTimeout(this.options.headersTimeoutMs);
    this.socket.write(head);
    return exchange.response;
  }

  destroy(error?: unknown): void {
    if (error !== undefined) this.socketError ??= error;
    this.socket.destroy();
  }

  private nextReadBuffer(): Buffer {
    const body = this.active?.body;
    if (body === undefined || body.read >= body.capacity) return this.scratch;
    return (body.buffers[body.current] as Buffer).subarray(body.read - body.currentStart);
  }

  private onRead(bytes: number): boolean {
    const exchange = this.active;
    if (exchange === undefined) {
      // Nothing was asked: a server talking out of turn cannot be trusted with the next request.
      this.destroy(codedError('the server sent bytes nobody asked for', 'UND_ERR_SOCKET'));
      return false;
    }
    exchange.receivedAny = true;
    if (exchange.body === undefined) return this.onHeaderBytes(exchange, this.scratch.subarray(0, bytes));
    this.onBodyBytes(exchange, bytes);
    return true;
  }

  /**
   * `bytes` lie in the scratch buffer, which the next read overwrites. The first read of an answer brings the
   * start of its body too, up to the scratch's size: those bytes go from the scratch straight into the body's
   * buffers, and only a head still incomplete is copied out. A copy of every first read would be a buffer of the
   * scratch's size per GET for the collector, which lets tens of MiB of them pile up before it runs.
   */
  private onHeaderBytes(exchange: Exchange, bytes: Buffer): boolean {
    let pending = exchange.headerBytes.length === 0 ? bytes : Buffer.concat([exchange.headerBytes, bytes]);
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end < 0) {
        if (pending.length > MAX_HEADER_BYTES) return this.fail(codedError('response headers too large', 'UND_ERR_HEADERS_OVERFLOW'));
        exchange.headerBytes = pending.buffer === this.scratch.buffer ? Buffer.from(pending) : pending;
        return true;
      }
      const head = parseHead(pending.subarray(0, end).toString('latin1'));
      if (head === undefined) return this.fail(codedError('malformed response head', 'HPE_INVALID_CONSTANT'));
      pending = pending.subarray(end + 4);
      if (head.statusCode < 200) continue;
      exchange.headerBytes = NO_BYTES;
      return this.startBody(exchange, head, pending);
    }
  }

  private startBody(exchange: Exchange, head: ParsedHead, early: Buffer): boolean {
    const length = bodyLength(head);
    if (length === undefined || (head.statusCode < 300 && length > MAX_DIRECT_BODY_BYTES)) return this.fail(new Declined());
    if (early.length > length) return this.fail(codedError('the server sent more than its Content-Length', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'));
    exchange.keepAlive = head.keepAlive;
    const offered = head.statusCode < 300 ? exchange.request.bodyBuffer?.(length) : undefined;
    const callers = offeredBuffers(offered);
    const inCallersMemory = callers !== undefined && totalBytes(callers) === length;
    const buffers = inCallersMemory ? callers : [Buffer.allocUnsafe(head.statusCode < 300 ? length : Math.min(length, MAX_ERROR_BODY_BYTES))];
    const body: Body = { buffers, capacity: totalBytes(buffers), length, read: 0, current: 0, currentStart: 0, discarded: false, inCallersMemory };
    copyInto(buffers, early);
    body.read = early.length;
    moveToCurrent(body);
    exchange.body = body;
    this.socket.setTimeout(this.options.bodyTimeoutMs);
    exchange.respond(head, () => this.discard(exchange));
    this.afterBodyBytes(exchange);
    return true;
  }

  private onBodyBytes(exchange: Exchange, bytes: number): void {
    const body = exchange.body as Body;
    // Bytes past the kept part of an error body went to the scratch buffer, not into the body.
    body.read += bytes;
    moveToCurrent(body);
    this.afterBodyBytes(exchange);
  }

  private afterBodyBytes(exchange: Exchange): void {
    const body = exchange.body as Body;
    if (body.read >= body.length) {
      this.finish(exchange, true);
    } else if (body.read >= body.capacity && body.capacity < body.length) {
      // An error body longer than is worth reading: keep its start, drop the connection with the rest.
      this.finish(exchange, false);
    }
  }

  private discard(exchange: Exchange): void {
    const body = exchange.body as Body;
    body.discarded = true;
    if (this.active !== exchange) return;
    // The next read already points into a success body's buffer, which may be the caller's to reuse once the
    // exchange ends: only closing the socket stops that read.
    if ((body.inCallersMemory && body.read < body.length) || body.length - body.read > DISCARD_LIMIT_BYTES) this.finish(exchange, false);
  }

  /** The answer is over (read whole, or cut short on purpose): hand the body over and free or drop the connection. */
  private finish(exchange: Exchange, reusable: boolean): void {
    this.active = undefined;
    exchange.settle(undefined);
    if (!reusable || !exchange.keepAlive || this.closing) {
      this.destroy();
      return;
    }
    this.socket.setTimeout(IDLE_CLOSE_MS);
    this.socket.unref();
    this.events.idle();
  }

  private fail(error: unknown): false {
    const exchange = this.active;
    this.active = undefined;
    this.destroy(error);
    exchange?.settle(error);
    return false;
  }

  private onTimeout(): void {
    if (!this.connected) {
      this.destroy(codedError('connect timed out', 'UND_ERR_CONNECT_TIMEOUT'));
    } else if (this.active === undefined) {
      this.destroy();
    } else {
      const waitingForHeaders = this.active.body === undefined;
      this.fail(codedError(waitingForHeaders ? 'headers timed out' : 'body timed out', waitingForHeaders ? 'UND_ERR_HEADERS_TIMEOUT' : 'UND_ERR_BODY_TIMEOUT'));
    }
  }

  private onClose(): void {
    this.closing = true;
    if (!this.connected) {
      this.events.failedToConnect(this.socketError ?? codedError('the connection closed while connecting', 'UND_ERR_SOCKET'));
      return;
    }
    const exchange = this.active;
    this.active = undefined;
    if (exchange !== undefined) {
      const error =
        exchange.reused && !exchange.receivedAny && !(this.socketError instanceof Error && this.socketError.name === 'AbortError')
          ? new StaleConnection()
          : (this.socketError ?? codedError('the connection closed before the answer ended', 'UND_ERR_SOCKET'));
      exchange.settle(error);
    }
    this.events.closed();
  }
}

/** One request's answer as it arrives: the head first (resolving `response`), then the body (settling `received`). */
class Exchange {
  readonly response: Promise<BufferedResponse>;
  /** A head that spans reads, as far as it has come (copied out of the scratch buffer). */
  headerBytes: Buffer = NO_BYTES;
  body: Body | undefined;
  keepAlive = false;
  receivedAny = false;
  private readonly answer = new PendingAnswer();
  private settled = false;

  constructor(
    readonly request: DirectGetRequest,
    readonly reused: boolean,
    private readonly onAbort: () => void,
  ) {
    this.response = this.answer.response;
    request.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  respond(head: ParsedHead, discard: () => void): void {
    this.answer.respond(head.statusCode, head.headers, discard);
  }

  /** Ends the exchange: before the head, the request fails; after it, the body ends with what was read. */
  settle(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.request.signal?.removeEventListener('abort', this.onAbort);
    const body = this.body;
    if (body === undefined) {
      this.answer.fail(error ?? codedError('the answer ended before its head', 'UND_ERR_SOCKET'));
      return;
    }
    const bytes = body.discarded ? 0 : Math.min(body.read, body.capacity);
    this.answer.bodyEnded({ chunks: leadingViews(body.buffers, bytes), bytes, ...(error === undefined ? {} : { error }) });
  }
}

function totalBytes(buffers: readonly Buffer[]): number {
  let bytes = 0;
  for (const buffer of buffers) bytes += buffer.length;
  return bytes;
}

/** Copies `source` into the start of `buffers`, filled in turn, as far as they reach. */
function copyInto(buffers: readonly Buffer[], source: Buffer): void {
  let copied = 0;
  for (const buffer of buffers) {
    if (copied >= source.length) return;
    copied += source.copy(buffer, 0, copied);
  }
}

/** Points the body at the buffer its next kept byte goes to. */
function moveToCurrent(body: Body): void {
  while (body.current < body.buffers.length && body.read >= body.currentStart + (body.buffers[body.current] as Buffer).length) {
    body.currentStart += (body.buffers[body.current] as Buffer).length;
    body.current += 1;
  }
}

/** The first `bytes` bytes of `buffers`, as views (whole buffers where they are whole). */
function leadingViews(buffers: readonly Buffer[], bytes: number): Buffer[] {
  const views: Buffer[] = [];
  let left = bytes;
  for (const buffer of buffers) {
    if (left <= 0) break;
    if (buffer.length === 0) continue;
    views.push(left >= buffer.length ? buffer : buffer.subarray(0, left));
    left -= buffer.length;
  }
  return views;
}

interface ParsedHead {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly keepAlive: boolean;
}

/** Status line and header fields of an HTTP/1.x answer; undefined when it is not one. */
export function parseHead(text: string): ParsedHead | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0] ?? '');
  if (status === null) return undefined;
  const headers: Record<string, string | string[]> = {};
  for (let i = 1; i < lines.length; i += 1) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers[name];
    if (previous === undefined) headers[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else headers[name] = [previous, value];
  }
  const connection = String(headers.connection ?? '').toLowerCase();
  const http10 = status[1] === '0';
  const keepAlive = http10 ? connection.includes('keep-alive') : !connection.includes('close');
  return { statusCode: Number(status[2]), headers, keepAlive };
}

/** The body's length when `Content-Length` frames it (0 when the status has none); undefined otherwise. */
function bodyLength(head: ParsedHead): number | undefined {
  if (head.statusCode === 204 || head.statusCode === 304) return 0;
  if (head.headers['transfer-encoding'] !== undefined) return undefined;
  const value = head.headers['content-length'];
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  const length = Number(value);
  return Number.isSafeInteger(length) ? length : undefined;
}

function requestHead(path: string, host: string, headers: Readonly<Record<string, string>>): string {
  let head = `GET ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() !== 'host') head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}

/** A header that can go on the wire as is: a token for a name; no line breaks and nothing outside latin1 in the value. */
function isSendableHeader([name, value]: [string, string]): boolean {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) && /^[\t\x20-\x7e\x80-\xff]*$/.test(value);
}
