import type { AppendHandle, ObjectInfo, PutResult, UploadSource } from '../store/object-store.js';
import { StoreError } from '../store/errors.js';
import type { StagedFile } from './staging-area.js';

/** The store calls an upload of a written file uses, as the bucket's client offers them. */
export interface UploadTarget {
  putFrom(key: string, source: UploadSource): Promise<PutResult>;
  append(key: string, handle: AppendHandle | undefined, chunk: Uint8Array): Promise<AppendHandle>;
  flushAppend(key: string, handle: AppendHandle): Promise<PutResult>;
  head(key: string): Promise<ObjectInfo>;
}

/**
 * Bytes of one append: a file smaller than this is uploaded whole at close, as one PUT. Large enough that the
 * requests cost little beside the bytes, small enough that the part left to send at close is sent quickly.
 */
export const STREAM_CHUNK_BYTES = 8 * 1024 * 1024;

/** What an upload put in the store: the object's version and its size. */
export interface StreamedUpload extends PutResult {
  readonly sizeBytes: number;
}

/**
 * A new file's bytes sent to the store while it is written: each whole chunk a writer has gone past is read back
 * from the staging file and appended (AIStore's `append_type=append`); the upload at flush, fsync or close sends
 * what is left and flushes, which makes the object. Only a writer that goes forward keeps it: a write or truncate
 * into what was already sent, a rename, or an append that failed gives the stream up, and the upload is then the
 * whole staging file, as for any other file. A stream given up leaves its work file to the store's sweep of
 * abandoned appends (the protocol has no call to drop one).
 */
export class AppendStream {
  /** Bytes read from the staging file for an append, sent or on their way: a write below this gives the stream up. */
  private sentBytes = 0;
  private handle: AppendHandle | undefined;
  private pumping: Promise<void> | undefined;
  private over = false;
  /** Starts of the writes and truncates under way: bytes from the lowest of them on may still change. */
  private readonly changing: number[] = [];
  /** Two chunk buffers: one being sent, one being read into. */
  private buffers: Buffer[] = [];
  private turn = 0;
  /** The append under way, if any. */
  private sending: Promise<void> | undefined;

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

  /** Gives the stream up: nothing more is sent, and `finish` answers undefined. */
  giveUp(): void {
    this.over = true;
  }

  /** Resolves once no append of this stream is under way. */
  async idle(): Promise<void> {
    await this.pumping;
  }

  /**
   * Ends the stream: the bytes not sent yet are appended, then the flush makes the object. Undefined when the
   * stream was given up, never sent a chunk, or the store refused it (its work file lost, the object not the size
   * sent) or an append failed: the caller then uploads the whole file. Rejects when the flush could not reach the
   * store until the deadline, since a whole upload would fare no better.
   */
  async finish(): Promise<StreamedUpload | undefined> {
    await this.idle();
    const started = this.handle !== undefined;
    // A close of a copy of the descriptor (dd and shells dup theirs) uploads the file while still empty: an append
    // that starts after that empty object landed starts from its bytes, none, so the stream goes on.
    if (!started && this.live && this.file.sizeBytes === 0) return undefined;
    const wasLive = this.live && this.changing.length === 0;
    this.over = true;
    if (!started || !wasLive) return undefined;
    const sizeBytes = this.file.sizeBytes;
    try {
      while (this.sentBytes < sizeBytes) await this.sendNext(Math.min(this.chunkBytes, sizeBytes - this.sentBytes));
      await this.answered();
    } catch {
      // An append is tried once (it may have landed), so a failed one says nothing of the store's health.
      return undefined;
    } finally {
      this.sending = undefined;
      this.buffers = [];
    }
    let version: string | undefined;
    try {
      ({ version } = await this.store.flushAppend(this.key, this.handle!));
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

  /** Bytes below every change under way and below the end: what may be read for an append. */
  private readyBytes(): number {
    let ready = this.file.sizeBytes;
    for (const position of this.changing) ready = Math.min(ready, position);
    return ready;
  }

  private pump(): void {
    if (this.over || this.pumping !== undefined || this.readyBytes() - this.sentBytes < this.chunkBytes) return;
    this.pumping = (async () => {
      try {
        // Bytes written while the last append was under way are ready once it is answered: looked at again then.
        while (!this.over) {
          if (this.readyBytes() - this.sentBytes >= this.chunkBytes) await this.sendNext(this.chunkBytes);
          else if (this.sending !== undefined) await this.answered();
          else break;
        }
      } catch {
        // The whole file goes at the upload instead; its failure, if the store is still away, is the one reported.
        this.giveUp();
      } finally {
        this.sending = undefined;
        this.pumping = undefined;
        if (this.over) this.buffers = [];
      }
    })();
  }

  /** Waits for the append under way; there is none after. */
  private async answered(): Promise<void> {
    const sending = this.sending;
    this.sending = undefined;
    await sending;
  }

  /**
   * Reads the next `length` bytes from the staging file, while the append before them is still being sent (into
   * the other buffer), then starts their append once that one is answered: each append needs the handle of the last.
   */
  private async sendNext(length: number): Promise<void> {
    const at = this.sentBytes;
    this.sentBytes += length;
    const chunk = (this.buffers[this.turn] ??= Buffer.allocUnsafeSlow(this.chunkBytes)).subarray(0, length);
    this.turn = 1 - this.turn;
    for (let done = 0; done < length; ) {
      const read = await this.file.read(chunk.subarray(done), length - done, at + done);
      if (read === 0) throw new Error(`staging file ${this.file.path} ended at ${at + done} of ${at + length} bytes`);
      done += read;
    }
    await this.sending;
    const sending = this.store.append(this.key, this.handle, chunk).then((handle) => {
      this.handle = handle;
    });
    // Awaited by the next chunk or the end of the stream; until then its failure waits there.
    sending.catch(() => undefined);
    this.sending = sending;
  }
}
