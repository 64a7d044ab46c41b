import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';

/** What a body brought: the chunks as the socket delivered them, and why it ended early (if it did). */
export interface ReceivedBody {
  readonly chunks: readonly Buffer[];
  readonly bytes: number;
  /** Set when the body broke off (reset, timeout, abort); `chunks` then hold what came before. */
  readonly error?: unknown;
}

/**
 * A response body gathered in memory, chunk by chunk, without joining or copying: a ranged GET keeps the
 * socket's own buffers, so an 8 MiB part costs no second memcpy and no fresh pages (measured: joining cost
 * more mount CPU than anything else on the read path).
 */
export interface ResponseBody {
  /** Settles when the body ended or broke off; never rejects. */
  readonly received: Promise<ReceivedBody>;
  /** Keeps no more of it; a body that goes on past `DISCARD_LIMIT_BYTES` closes the connection instead. */
  discard(): void;
}

export interface BufferedResponse {
  readonly statusCode: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
}

/** An error answer is read up to this much; the rest is dropped with the connection. */
export const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** A body nobody wants is drained (keeping the connection) up to this much, then the connection is closed. */
export const DISCARD_LIMIT_BYTES = 64 * 1024;

class BodyCutOffError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BodyCutOffError';
  }
}

/**
 * An undici dispatch handler that hands back the status and headers as soon as they arrive and gathers the
 * body behind them. The plain dispatch API is used rather than `request()`: its stream wrapper costs a
 * noticeable share of CPU per byte on the read path (measured), and every byte is kept anyway.
 */
export class BufferingHandler implements Dispatcher.DispatchHandler {
  private readonly answer = new PendingAnswer();
  readonly response = this.answer.response;
  private controller: Dispatcher.DispatchController | undefined;
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private started = false;
  private settled = false;
  private discarding = false;
  private droppedBytes = 0;
  /** Bytes kept at most; beyond it the connection is closed (error answers are not read whole). */
  private keepLimitBytes = Number.POSITIVE_INFINITY;
  private readonly onAbort = (): void => this.abort(abortError(this.signal));

  constructor(private readonly signal: AbortSignal | undefined) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.signal?.aborted) controller.abort(abortError(this.signal));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return;
    this.started = true;
    if (statusCode >= 300) this.keepLimitBytes = MAX_ERROR_BODY_BYTES;
    this.answer.respond(statusCode, headers, () => this.discard());
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.discarding) {
      this.droppedBytes += chunk.length;
      if (this.droppedBytes > DISCARD_LIMIT_BYTES) controller.abort(new BodyCutOffError('body discarded'));
      return;
    }
    if (this.bytes + chunk.length > this.keepLimitBytes) {
      this.chunks.push(chunk.subarray(0, this.keepLimitBytes - this.bytes));
      this.bytes = this.keepLimitBytes;
      controller.abort(new BodyCutOffError(`body longer than ${this.keepLimitBytes} bytes`));
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
  }

  onResponseEnd(): void {
    this.settle(undefined);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    if (!this.started) this.answer.fail(error);
    this.settle(error);
  }

  private discard(): void {
    this.discarding = true;
    this.chunks.length = 0;
    this.bytes = 0;
  }

  private abort(reason: Error): void {
    // Before the request started, onRequestStart sees the aborted signal; after it settled, nothing is left to stop.
    if (this.controller !== undefined && !this.settled) this.controller.abort(reason);
  }

  private settle(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.signal?.removeEventListener('abort', this.onAbort);
    const cutOff = error instanceof BodyCutOffError;
    this.answer.bodyEnded({ chunks: this.chunks, bytes: this.bytes, ...(error === undefined || cutOff ? {} : { error }) });
  }
}

/** The error a request stopped by its signal fails with (an `AbortError`, which `transportError` maps). */
export function abortError(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return Object.assign(new Error('the request was aborted', { cause: reason }), { name: 'AbortError' });
}

/** The two promises of an answer: its head (status and headers), then its body. */
export class PendingAnswer {
  readonly response: Promise<BufferedResponse>;
  private readonly received: Promise<ReceivedBody>;
  private resolveResponse!: (response: BufferedResponse) => void;
  private rejectResponse!: (error: unknown) => void;
  private resolveReceived!: (body: ReceivedBody) => void;

  constructor() {
    this.response = new Promise((resolve, reject) => {
      this.resolveResponse = resolve;
      this.rejectResponse = reject;
    });
    this.received = new Promise((resolve) => {
      this.resolveReceived = resolve;
    });
  }

  respond(statusCode: number, headers: IncomingHttpHeaders, discard: () => void): void {
    this.resolveResponse({ statusCode, headers, body: { received: this.received, discard } });
  }

  /** No head came: the request fails. */
  fail(error: unknown): void {
    this.rejectResponse(error);
  }

  bodyEnded(body: ReceivedBody): void {
    this.resolveReceived(body);
  }
}
