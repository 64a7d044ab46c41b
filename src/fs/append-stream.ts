import type { AppendHandle, ObjectInfo, PutResult, UploadSource } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import type { StagedFile } from './staging-area.js';

/** The store calls an upload of a written file uses, as the bucket's client offers them. */
export interface UploadTarget {
  putFrom(key: string, source: UploadSource): Promise<PutResult>;
  append(key: string, handle: AppendHandle | undefined, chunk: Uint8Array): Promise<AppendHandle>;
  appendStreamed(key: string, handle: AppendHandle | undefined, chunks: AsyncIterable<Uint8Array>): Promise<AppendHandle>;
  flushAppend(key: string, handle: AppendHandle): Promise<PutResult>;
  head(key: string): Promise<ObjectInfo>;
}

/**
 * Bytes of the first append, sent whole: a file smaller than this is uploaded whole at close, as one PUT. Its
 * answer names the target the rest streams to, which a streamed body, sent once, could not be redirected to.
 */
export const STREAM_CHUNK_BYTES = 8 * 1024 * 1024;
/**
 * Bytes read from the staging file for one piece of a streamed append: at least the smaller (until the stream
 * ends), so the writer's small writes do not each cost a read and a send; at most the larger, when behind.
 */
const MIN_PIECE_BYTES = 1024 * 1024;
const MAX_PIECE_BYTES = 4 * 1024 * 1024;
/**
 * A streamed append ends once it carried this many bytes, or was open this long (well within the client's wait
 * for an answer's headers); the next one goes on from there.
 */
export const SEGMENT_MAX_BYTES = 1024 * 1024 * 1024;
export const SEGMENT_MAX_MS = 10_000;
/** A streamed append ends when the writer wrote nothing for this long, so no request stays open while it pauses. */
export const SEGMENT_IDLE_MS = 1_000;

/** What an upload put in the store: the object's version and its size. */
export interface StreamedUpload extends PutResult {
  readonly sizeBytes: number;
}

/** Ends a streamed append's body that must not complete: the stream was given up while it was under way. */
class StreamGivenUpError extends Error {}

/**
 * A new file's bytes sent to the store while it is written (AIStore's `append_type=append`): once a writer has
 * gone past the first chunk, that chunk is appended whole, and from then on one append streams the bytes as the
 * writer passes them, read back from the staging file; the upload at flush, fsync or close sends what is left,
 * ends that append and flushes, which makes the object. Only a writer that goes forward keeps it: a write or
 * truncate into what was already sent, a rename, or an append that failed gives the stream up, and the upload is
 * then the whole staging file, as for any other file. A stream given up leaves its work file to the store's
 * sweep of abandoned appends (the protocol has no call to drop one).
 */
export class AppendStream {
  /** Bytes read from the staging file for an append, sent or on their way: a write below this gives the stream up. */
  private sentBytes = 0;
  private handle: AppendHandle | undefined;
  private over = false;
  /** An append failed: the stream cannot make the object. */
  private failed = false;
  /** Set by `finish`: the size the appends must reach, then end. */
  private endBytes: number | undefined;
  /** Starts of the writes and truncates under way: bytes from the lowest of them on may still change. */
  private readonly changing: number[] = [];
  /** The appends under way, one after the other, if any. */
  private running: Promise<void> | undefined;
  /** Wakes a streamed append waiting for bytes. */
  private wake: (() => void) | undefined;

  constructor(
    readonly key: string,
    private readonly file: StagedFile,
    private readonly store: UploadTarget,
    private readonly chunkBytes: number = STREAM_CHUNK_BYTES,
  ) {}

  /** Whether it may still make the object: neither given up nor ended. */
  get live(): boolean {
    return !this.over;
  }

  /** A write or truncate that changes bytes from `position` on begins; one into what was sent gives the stream up. */
  changeStarted(position: number): void {
    if (position < this.sentBytes) this.giveUp();
    this.changing.push(position);
  }

  changeEnded(position: number): void {
    const at = this.changing.indexOf(position);
    if (at >= 0) this.changing.splice(at, 1);
    this.pump();
  }

  /** Gives the stream up: nothing more is sent (a streamed append under way is broken off), and `finish` answers undefined. */
  giveUp(): void {
    this.over = true;
    this.wake?.();
  }

  /** Resolves once no append of this stream is under way. */
  async idle(): Promise<void> {
    await this.running;
  }

  /**
   * Ends the stream: the bytes not sent yet are appended, then the flush makes the object. Undefined when the
   * stream was given up, never sent a chunk, or the store refused it (its work file lost, the object not the size
   * sent) or an append failed: the caller then uploads the whole file. Rejects when the flush could not reach the
   * store until the deadline, since a whole upload would fare no better.
   */
  async finish(): Promise<StreamedUpload | undefined> {
    const started = this.handle !== undefined || this.running !== undefined;
    // A close of a copy of the descriptor (dd and shells dup theirs) uploads the file while still empty: an append
    // that starts after that empty object landed starts from its bytes, none, so the stream goes on.
    if (!started && this.live && this.file.sizeBytes === 0) return undefined;
    if (!started || !this.live || this.changing.length > 0) {
      this.giveUp();
      await this.idle();
      return undefined;
    }
    const sizeBytes = this.file.sizeBytes;
    this.endBytes = sizeBytes;
    this.wake?.();
    this.run();
    await this.idle();
    this.over = true;
    if (this.failed || this.handle === undefined || this.sentBytes !== sizeBytes) return undefined;
    let version: string | undefined;
    try {
      ({ version } = await this.store.flushAppend(this.key, this.handle));
    } catch (error) {
      if (error instanceof StoreError && error.retryable) throw error;
      return undefined;
    }
    // The flush declares no checksum (see the store client), so the object's size is what tells that the appends
    // started from nothing: an object made under the name meanwhile is the start of theirs, and the whole PUT
    // that follows replaces it.
    const landed = await this.store.head(this.key).catch(() => undefined);
    if (landed?.size !== sizeBytes) return undefined;
    return { version, sizeBytes };
  }

  /** Bytes that may be read for an append: all of them once ended, else those below every change under way. */
  private readyBytes(): number {
    if (this.endBytes !== undefined) return this.endBytes;
    let ready = this.file.sizeBytes;
    for (const position of this.changing) ready = Math.min(ready, position);
    return ready;
  }

  private pump(): void {
    if (this.over || this.endBytes !== undefined) return;
    const waiting = this.readyBytes() - this.sentBytes;
    if (this.running !== undefined) {
      if (waiting >= MIN_PIECE_BYTES) this.wake?.();
      return;
    }
    if (waiting >= (this.handle === undefined ? this.chunkBytes : MIN_PIECE_BYTES)) this.run();
  }

  /** Starts the appends, unless under way: the first chunk whole, then streamed ones while there are bytes to send. */
  private run(): void {
    if (this.running !== undefined || this.over || this.failed) return;
    this.running = (async () => {
      try {
        if (this.handle === undefined) {
          const chunk = await this.readPiece(Math.min(this.chunkBytes, this.readyBytes() - this.sentBytes));
          if (chunk === undefined) return;
          this.handle = await this.store.append(this.key, undefined, chunk);
        }
        while (!this.over && this.pieceReady()) this.handle = await this.store.appendStreamed(this.key, this.handle, this.pieces());
      } catch {
        // The whole file goes at the upload instead; its failure, if the store is still away, is the one reported.
        this.failed = true;
        this.giveUp();
      } finally {
        this.running = undefined;
      }
    })();
  }

  /**
   * The body of one streamed append: the bytes from where the last append ended, as the writer passes them; ends
   * at the stream's end, after SEGMENT_MAX_BYTES or SEGMENT_MAX_MS, or when the writer pauses; breaks off when the
   * stream is given up.
   */
  private async *pieces(): AsyncGenerator<Buffer> {
    const startedMs = Date.now();
    let segmentBytes = 0;
    for (;;) {
      if (this.over) throw new StreamGivenUpError(`the stream of ${this.key} was given up`);
      if (this.pieceReady()) {
        const piece = await this.readPiece(Math.min(MAX_PIECE_BYTES, this.readyBytes() - this.sentBytes));
        if (piece === undefined) throw new StreamGivenUpError(`the stream of ${this.key} was given up`);
        yield piece;
        segmentBytes += piece.length;
        if (segmentBytes >= SEGMENT_MAX_BYTES || Date.now() - startedMs >= SEGMENT_MAX_MS) return;
      } else if (this.endBytes !== undefined || !(await this.bytesCame())) {
        return;
      }
    }
  }

  /** Whether a piece may be read: MIN_PIECE_BYTES of them, or what is left once the stream ends. */
  private pieceReady(): boolean {
    const waiting = this.readyBytes() - this.sentBytes;
    return waiting >= MIN_PIECE_BYTES || (waiting > 0 && this.endBytes !== undefined);
  }

  /** Waits for a write (true), or SEGMENT_IDLE_MS without one (false). */
  private bytesCame(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, SEGMENT_IDLE_MS);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve(true);
      };
    });
  }

  /** The next `length` bytes from the staging file, counted as sent; undefined when the stream was given up meanwhile. */
  private async readPiece(length: number): Promise<Buffer | undefined> {
    const at = this.sentBytes;
    this.sentBytes += length;
    // A fresh buffer each time: the socket may still hold the last one.
    const piece = Buffer.allocUnsafeSlow(length);
    for (let done = 0; done < length; ) {
      const read = await this.file.read(piece.subarray(done), length - done, at + done);
      if (read === 0) throw new Error(`staging file ${this.file.path} ended at ${at + done} of ${at + length} bytes`);
      done += read;
    }
    return this.over && this.endBytes === undefined ? undefined : piece;
  }
}
