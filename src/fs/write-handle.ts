import type { FileHandle as FsFileHandle } from 'node:fs/promises';
import { AppendStream, type StreamedUpload, type UploadTarget } from './append-stream.js';
import type { ObjectReader } from './read-path.js';
import type { StagedFile } from './staging-area.js';

/** What one upload of a write handle put in the store. */
export interface Landed {
  readonly key: string;
  readonly path: string;
  readonly sizeBytes: number;
  readonly version: string | undefined;
}

/**
 * A file open for writing: its bytes live in a staging file until `sync` uploads them to `key`.
 * Uploads of one handle run one after the other; bytes written while one runs keep the handle dirty.
 * A handle given a stream (a new name) sends its bytes while they are written, as long as the writer goes forward;
 * otherwise, and after the stream's end, an upload sends the whole staging file.
 */
export class WriteHandle {
  /** Bytes written since the last upload that landed (a new file starts dirty: even an empty one is uploaded). */
  dirty = true;
  /** The last upload failed and nothing was written since: release does not try again. */
  failedSinceWrite = false;
  /** Its object is in the store (it replaces one, or an upload of it landed): listed by the store, not by this mount alone. */
  inStore = false;
  /** Unlinked while open before it reached the store: never uploaded. */
  discarded = false;
  /** When it was last written or truncated (its mtime while open). */
  mtimeMs: number;
  /** An engine writes its bytes into the staging file itself (`engineWrote`). */
  engineWrites = false;
  private writes = 0;
  /** The errno of a write the engine could not make, not reported by a flush or fsync yet. */
  private failedWriteErrno = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stream: AppendStream | undefined;

  constructor(
    readonly fh: number,
    /** Where it shows in the mount; a rename of the file being written moves it. */
    public path: string,
    public key: string,
    readonly file: StagedFile,
    nowMs: number,
    /** Where its bytes stream to while written: given for a name the store does not hold (an append would start from its bytes). */
    streamTo?: UploadTarget,
  ) {
    this.mtimeMs = nowMs;
    this.stream = streamTo === undefined ? undefined : new AppendStream(key, file, streamTo);
  }

  get sizeBytes(): number {
    return this.file.sizeBytes;
  }

  async write(data: Buffer, position: number, nowMs: number): Promise<number> {
    const taken = await this.changing(position, () => this.file.write(data, position, this.path));
    this.changed(nowMs);
    return taken;
  }

  /**
   * An engine wrote `bytes` at `position` into the staging file itself (`errno`: it failed after them): applied as
   * `write` applies its own, so a write into what the stream sent gives the stream up.
   */
  engineWrote(position: number, bytes: number, errno: number, nowMs: number): void {
    if (errno !== 0 && this.failedWriteErrno === 0) this.failedWriteErrno = errno;
    if (bytes <= 0) return;
    this.stream?.changeStarted(position);
    this.file.wrote(position, bytes);
    this.stream?.changeEnded(position);
    this.changed(nowMs);
  }

  /** The errno of a write the engine could not make since the last call (0: none): reported once, as fsync does. */
  takeFailedWrite(): number {
    const errno = this.failedWriteErrno;
    this.failedWriteErrno = 0;
    return errno;
  }

  async truncate(sizeBytes: number, nowMs: number): Promise<void> {
    await this.changing(Math.min(sizeBytes, this.file.sizeBytes), () => this.file.truncate(sizeBytes, this.path));
    this.changed(nowMs);
  }

  read(target: Buffer, length: number, position: number): Promise<number> {
    return this.file.read(target, length, position);
  }

  /**
   * Uploads the staged bytes when dirty, after any upload already under way; resolves with what landed
   * (undefined when there was nothing to upload), rejects with the upload's failure.
   */
  sync(store: UploadTarget): Promise<Landed | undefined> {
    const run = this.queue.then(async () => {
      if (!this.dirty) return undefined;
      const generation = this.writes;
      const { key, path } = this;
      try {
        const { version, sizeBytes } = (await this.endStream(key)) ?? (await this.putWhole(store, key));
        if (generation === this.writes) this.dirty = false;
        return { key, path, sizeBytes, version };
      } catch (error) {
        if (generation === this.writes) this.failedSinceWrite = true;
        throw error;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once no upload of this handle is under way. */
  async idle(): Promise<void> {
    await this.queue;
  }

  /** At the last close, before the staging file goes: a stream still under way (unlinked while open, an upload that failed) stops reading it. */
  async stopStream(): Promise<void> {
    this.stream?.giveUp();
    await this.stream?.idle();
  }

  /** The stream's end, when it still may make the object at `key` (a rename gives it up): what it landed. */
  private async endStream(key: string): Promise<StreamedUpload | undefined> {
    if (this.stream === undefined) return undefined;
    if (this.stream.key !== key) this.stream.giveUp();
    return this.stream.finish();
  }

  private async putWhole(store: UploadTarget, key: string): Promise<StreamedUpload> {
    const source = this.file.source();
    const { version } = await store.putFrom(key, source);
    return { version, sizeBytes: source.sizeBytes };
  }

  /** Runs a change of the staging file from `position` on, which its stream must know of while it runs. */
  private async changing<T>(position: number, change: () => Promise<T>): Promise<T> {
    this.stream?.changeStarted(position);
    try {
      return await change();
    } finally {
      this.stream?.changeEnded(position);
    }
  }

  private changed(nowMs: number): void {
    this.writes += 1;
    this.dirty = true;
    this.failedSinceWrite = false;
    this.mtimeMs = nowMs;
  }
}

/** A read-only open of a file another handle of this mount is writing: its own descriptor on the staging file. */
export function stagedFileReader(file: FsFileHandle, sizeNow: () => number): ObjectReader {
  return {
    read: async (target, length, position) => {
      const wanted = Math.min(length, target.length, Math.max(0, sizeNow() - position));
      if (wanted <= 0) return 0;
      return (await file.read(target, 0, wanted, position)).bytesRead;
    },
    close: () => void file.close().catch(() => {}),
  };
}
