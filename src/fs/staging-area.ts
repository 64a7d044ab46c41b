import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { UploadSource } from '../store/object-store.js';
import { Errno, FsError } from './errno.js';

/** Bound of the staging area when none is set: files written but not yet uploaded, kept ones included. */
export const DEFAULT_MAX_STAGING_BYTES = 10 * 1024 ** 3;

/** Reads of a staging file for its upload: large ones, since the stream's default turns an upload into many small sends. */
const UPLOAD_READ_BYTES = 1024 * 1024;
/** Room past a file's end takes at most this fraction (1/N) of the free bound. */
const ROOM_SHARE_OF_FREE = 4;
/** A file being written: `NAME.data` beside `NAME.json` (what it is for). */
const DATA_SUFFIX = '.data';
/** A file whose upload failed, or that a mount which ended without uploading it left behind. */
const KEPT_SUFFIX = '.kept';
const META_SUFFIX = '.json';

/** What a staging file is for, as its side file records it. */
export interface StagedTarget {
  /** The bucket's URI or name, as the mount shows it. */
  readonly bucket: string;
  readonly key: string;
}

/** A staging file kept on disk because its bytes did not reach the store. */
export interface KeptFile extends StagedTarget {
  readonly path: string;
  readonly sizeBytes: number;
}

export interface StagingStats {
  /** Bytes of every staging file, kept ones included: what counts against the bound. */
  readonly stagedBytes: number;
  readonly maxBytes: number;
  /** Files open for writing now. */
  readonly openFiles: number;
  readonly keptFiles: readonly KeptFile[];
}

export interface StagingAreaOptions {
  readonly dir: string;
  readonly maxBytes?: number;
  readonly logger: Logger;
}

/**
 * Local files that hold what is written to the mount until it is uploaded: one file per open new
 * object, so random writes and reads of it work, and a failed upload loses nothing. Bounded in bytes
 * (ENOSPC past it). Files a mount leaves behind (a failed upload, a kill -9) are kept under `.kept`
 * names, reported by the next mount that opens the area, and counted against the bound until removed.
 */
export class StagingArea {
  private usedBytes = 0;
  /** Of `usedBytes`, the room files set aside past their ends (`StagedFile.setAside`). */
  private roomBytes = 0;
  private openCount = 0;
  private readonly kept = new Map<string, KeptFile>();
  readonly maxBytes: number;

  private constructor(
    readonly dir: string,
    maxBytes: number,
    private readonly logger: Logger,
  ) {
    this.maxBytes = maxBytes;
  }

  /** Makes the folder (owner only) and takes over what an earlier mount left in it. */
  static async open(options: StagingAreaOptions): Promise<StagingArea> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const area = new StagingArea(options.dir, options.maxBytes ?? DEFAULT_MAX_STAGING_BYTES, options.logger);
    await area.adoptLeftovers();
    return area;
  }

  /** A new empty staging file for `target`. */
  async newFile(target: StagedTarget): Promise<StagedFile> {
    const base = join(this.dir, randomUUID());
    await writeFile(`${base}${META_SUFFIX}`, describe(target), { mode: 0o600 });
    let handle: FileHandle;
    try {
      handle = await open(`${base}${DATA_SUFFIX}`, 'w+', 0o600);
    } catch (error) {
      await rm(`${base}${META_SUFFIX}`, { force: true });
      throw error;
    }
    this.openCount += 1;
    return new StagedFile(this, base, handle, target);
  }

  /** Takes `bytes` more of the bound; ENOSPC when they do not fit. */
  reserve(bytes: number, path: string): void {
    if (bytes <= 0) return;
    if (this.usedBytes + bytes > this.maxBytes) {
      throw new FsError(Errno.ENOSPC, `write ${path}: the staging area (${this.dir}) is full (--max-staging-size ${this.maxBytes} bytes)`);
    }
    this.usedBytes += bytes;
  }

  /** Takes up to `bytes` more of the bound, as many as fit; returns how many it took. */
  reserveUpTo(bytes: number): number {
    const taken = Math.max(0, Math.min(bytes, this.maxBytes - this.usedBytes));
    this.usedBytes += taken;
    return taken;
  }

  /**
   * Takes up to `bytes` of the bound as room past a file's end, at most a quarter of what is free: room is held
   * until close, so open files must never take the whole bound from writers that have bytes to stage.
   */
  reserveRoomUpTo(bytes: number): number {
    return this.reserveUpTo(Math.min(bytes, Math.floor((this.maxBytes - this.usedBytes) / ROOM_SHARE_OF_FREE)));
  }

  unreserve(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }

  /** A staging file was closed: `kept` when it stays on disk. */
  closed(file: KeptFile | undefined): void {
    this.openCount -= 1;
    if (file !== undefined) this.kept.set(file.path, file);
  }

  /** The room files hold past their ends changed by `bytes`: part of the bound, not of the bytes staged. */
  roomChanged(bytes: number): void {
    this.roomBytes += bytes;
  }

  stats(): StagingStats {
    return { stagedBytes: this.usedBytes - this.roomBytes, maxBytes: this.maxBytes, openFiles: this.openCount, keptFiles: [...this.kept.values()] };
  }

  /** Every staging file found at open is an earlier mount's: renamed to `.kept`, counted and logged. */
  private async adoptLeftovers(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const suffix = name.endsWith(DATA_SUFFIX) ? DATA_SUFFIX : name.endsWith(KEPT_SUFFIX) ? KEPT_SUFFIX : undefined;
      if (suffix === undefined) continue;
      const base = join(this.dir, name.slice(0, -suffix.length));
      const path = `${base}${KEPT_SUFFIX}`;
      try {
        if (suffix === DATA_SUFFIX) await rename(`${base}${DATA_SUFFIX}`, path);
        const sizeBytes = (await stat(path)).size;
        const target = await readTarget(`${base}${META_SUFFIX}`);
        const file: KeptFile = { ...target, path, sizeBytes };
        this.kept.set(path, file);
        this.usedBytes += sizeBytes;
      } catch (error) {
        this.logger.warn({ path, err: (error as Error).message }, 'cannot read a staging file an earlier mount left');
      }
    }
    if (this.kept.size > 0) {
      this.logger.warn(
        { dir: this.dir, files: [...this.kept.values()].map(({ path, bucket, key, sizeBytes }) => ({ path, bucket, key, sizeBytes })) },
        'staging files of writes that never reached the store are kept here; upload or remove them',
      );
    }
  }
}

/**
 * One staging file: the bytes of one open new object, at a size the area keeps count of. It may hold more of the
 * area than its size: room set aside for an engine that writes into it itself (`setAside`), counted until it closes.
 */
export class StagedFile {
  private size = 0;
  /** The end of the room set aside: the file holds max(size, this) bytes of the area. */
  private setAsideEnd = 0;
  /** The room past the end the area was last told of. */
  private roomTold = 0;
  private closedAlready = false;

  constructor(
    private readonly area: StagingArea,
    private readonly base: string,
    private readonly handle: FileHandle,
    private target: StagedTarget,
  ) {}

  get path(): string {
    return `${this.base}${DATA_SUFFIX}`;
  }

  get sizeBytes(): number {
    return this.size;
  }

  /** The descriptor the file is open on (read and write), for an engine that writes into it itself. */
  get fd(): number {
    return this.handle.fd;
  }

  /** Bytes of the area this file holds. */
  private get heldBytes(): number {
    return Math.max(this.size, this.setAsideEnd);
  }

  /** Tells the area how much room past its end the file holds now. */
  private tellRoom(): void {
    const room = this.closedAlready ? 0 : this.heldBytes - this.size;
    this.area.roomChanged(room - this.roomTold);
    this.roomTold = room;
  }

  /**
   * Sets aside up to `bytes` of the area past the file's end, as much as fits, for writes the area is not asked
   * about (an engine writing into the file itself); returns the end of the room set aside.
   */
  setAside(bytes: number): number {
    const wanted = this.size + bytes - this.heldBytes;
    if (wanted > 0) this.setAsideEnd = this.heldBytes + this.area.reserveRoomUpTo(wanted);
    this.tellRoom();
    return this.setAsideEnd;
  }

  /** Someone else wrote `bytes` at `position` (within the room set aside): the file's size follows. */
  wrote(position: number, bytes: number): void {
    const end = position + bytes;
    // Past the room: never from an engine that keeps to it, but the bytes are in the file and count all the same.
    if (end > this.heldBytes) this.area.reserveUpTo(end - this.heldBytes);
    if (end > this.size) this.size = end;
    this.tellRoom();
  }

  async write(data: Buffer, position: number, mountPath: string): Promise<number> {
    const end = position + data.length;
    const growth = end - this.heldBytes;
    this.area.reserve(growth, mountPath);
    try {
      let done = 0;
      while (done < data.length) {
        const { bytesWritten } = await this.handle.write(data, done, data.length - done, position + done);
        done += bytesWritten;
      }
    } catch (error) {
      this.area.unreserve(Math.max(0, growth));
      throw error;
    }
    if (end > this.size) this.size = end;
    this.tellRoom();
    return data.length;
  }

  async read(target: Buffer, length: number, position: number): Promise<number> {
    const wanted = Math.min(length, target.length, Math.max(0, this.size - position));
    if (wanted <= 0) return 0;
    const { bytesRead } = await this.handle.read(target, 0, wanted, position);
    return bytesRead;
  }

  async truncate(sizeBytes: number, mountPath: string): Promise<void> {
    const held = this.heldBytes;
    this.area.reserve(sizeBytes - held, mountPath);
    await this.handle.truncate(sizeBytes);
    this.size = sizeBytes;
    if (this.heldBytes < held) this.area.unreserve(held - this.heldBytes);
    this.tellRoom();
  }

  /** The upload's body: the file as it is now, read afresh for every attempt. */
  source(): UploadSource {
    const { path } = this;
    const sizeBytes = this.size;
    return {
      sizeBytes,
      open: () => (sizeBytes === 0 ? emptyStream() : createReadStream(path, { start: 0, end: sizeBytes - 1, highWaterMark: UPLOAD_READ_BYTES })),
    };
  }

  /** A file descriptor of its own on the bytes, for a reader of the file while it is written. */
  openForReading(): Promise<FileHandle> {
    return open(this.path, 'r');
  }

  /** The object it is for changed (a rename of the file being written). */
  async retarget(target: StagedTarget): Promise<void> {
    this.target = target;
    await writeFile(`${this.base}${META_SUFFIX}`, describe(target), { mode: 0o600 });
  }

  /** Done with it: removed when its bytes are in the store, else kept (renamed to `.kept`); returns the kept file's path. */
  async close(uploaded: boolean): Promise<string | undefined> {
    if (this.closedAlready) return undefined;
    this.closedAlready = true;
    this.tellRoom();
    await this.handle.close().catch(() => {});
    if (uploaded) {
      await rm(this.path, { force: true });
      await rm(`${this.base}${META_SUFFIX}`, { force: true });
      this.area.unreserve(this.heldBytes);
      this.area.closed(undefined);
      return undefined;
    }
    // A kept file holds its bytes, not the room set aside.
    this.area.unreserve(this.heldBytes - this.size);
    const keptPath = `${this.base}${KEPT_SUFFIX}`;
    await rename(this.path, keptPath);
    this.area.closed({ ...this.target, path: keptPath, sizeBytes: this.size });
    return keptPath;
  }
}

function describe(target: StagedTarget): string {
  return `${JSON.stringify({ bucket: target.bucket, key: target.key })}\n`;
}

async function readTarget(metaPath: string): Promise<StagedTarget> {
  try {
    const parsed = JSON.parse(await readFile(metaPath, 'utf8')) as Partial<StagedTarget>;
    return { bucket: String(parsed.bucket ?? ''), key: String(parsed.key ?? '') };
  } catch {
    return { bucket: '', key: '' };
  }
}

async function* emptyStream(): AsyncIterable<Uint8Array> {}

/** What a staging folder holds, read from the disk alone (for `bucketfs status`, in another process than the mount's). */
export async function scanStagingFolder(dir: string): Promise<{ stagedBytes: number; openFiles: number; keptFiles: KeptFile[] }> {
  let stagedBytes = 0;
  let openFiles = 0;
  const keptFiles: KeptFile[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return { stagedBytes, openFiles, keptFiles };
  }
  for (const name of names) {
    const kept = name.endsWith(KEPT_SUFFIX);
    if (!kept && !name.endsWith(DATA_SUFFIX)) continue;
    const path = join(dir, name);
    const sizeBytes = await stat(path).then(
      (info) => info.size,
      () => undefined,
    );
    if (sizeBytes === undefined) continue;
    stagedBytes += sizeBytes;
    if (!kept) {
      openFiles += 1;
      continue;
    }
    const target = await readTarget(join(dir, `${name.slice(0, -KEPT_SUFFIX.length)}${META_SUFFIX}`));
    keptFiles.push({ ...target, path, sizeBytes });
  }
  return { stagedBytes, openFiles, keptFiles };
}
