import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'pino';
import { BadRequestError } from './errors.js';
import { HeldFolders, TEMP_FILE_PREFIX } from './safe-path.js';

/**
 * The folder, in each bucket's own folder, that holds the work files of appends: hidden (its name has the temp
 * prefix, so it is never listed nor reachable as an object), and on the same filesystem as the objects, so a
 * flush is one rename.
 */
export const WORK_FOLDER = `${TEMP_FILE_PREFIX}work`;

/** A work file unused this long is abandoned: removed, and its handle unknown from then on. */
export const DEFAULT_WORK_FILE_IDLE_MS = 15 * 60_000;

const WORK_FILE_FLAGS = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const WORK_FILE_MODE = 0o644;

/** One append in progress: an open work file that will become `bucket/objectName`. */
export interface WorkFile {
  readonly id: string;
  readonly bucket: string;
  readonly objectName: string;
  readonly handle: FileHandle;
  sizeBytes: number;
  lastUsedMs: number;
}

/** A handle names the work file and how many of its bytes the client has seen stored: `<id>.<bytes>`. */
export function appendHandleText(file: WorkFile): string {
  return `${file.id}.${file.sizeBytes}`;
}

const HANDLE_PATTERN = /^([0-9a-f]{16})\.(\d{1,15})$/;

interface Flushed {
  readonly bucket: string;
  readonly objectName: string;
  readonly version: string;
  readonly atMs: number;
}

/**
 * The server's appends in progress. Calls on one work file run one after another; files left unused for
 * `idleMs` are removed, as are ones an earlier run of the server left behind.
 */
export class WorkFiles {
  private readonly files = new Map<string, WorkFile>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Handles flushed lately, so a flush sent again (its answer lost) is answered as the first was. */
  private readonly flushed = new Map<string, Flushed>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dataDir: string,
    private readonly idleMs: number,
    private readonly logger: Logger,
  ) {
    this.timer = setInterval(() => void this.sweep(), Math.max(10, Math.min(idleMs / 2, 60_000)));
    this.timer.unref();
    void this.sweep();
  }

  /** A new, empty work file for `bucket/objectName`. */
  async create(bucket: string, objectName: string): Promise<WorkFile> {
    const id = randomBytes(8).toString('hex');
    const folder = await this.holdWorkFolder(bucket, true);
    try {
      const handle = await open(folder.pathOf(id), WORK_FILE_FLAGS, WORK_FILE_MODE);
      const file: WorkFile = { id, bucket, objectName, handle, sizeBytes: 0, lastUsedMs: Date.now() };
      this.files.set(id, file);
      return file;
    } finally {
      await folder.close();
    }
  }

  /** Runs `step` on the work file a handle names, after any step already running on it; 400 for a handle unknown here. */
  async use<T>(bucket: string, objectName: string, handleText: string, step: (file: WorkFile, offset: number) => Promise<T>): Promise<T> {
    const match = HANDLE_PATTERN.exec(handleText);
    const id = match?.[1];
    if (id === undefined) throw unknownHandle(handleText);
    const run = async (): Promise<T> => {
      const file = this.files.get(id);
      if (file === undefined || file.bucket !== bucket || file.objectName !== objectName) throw unknownHandle(handleText);
      const offset = Number(match?.[2]);
      if (offset > file.sizeBytes) throw new BadRequestError(`append handle "${handleText}" names ${offset} bytes, the work file holds ${file.sizeBytes}`);
      file.lastUsedMs = Date.now();
      try {
        return await step(file, offset);
      } finally {
        file.lastUsedMs = Date.now();
      }
    };
    const previous = this.queues.get(id) ?? Promise.resolve();
    const current = previous.then(run, run);
    const settled = current.catch(() => undefined);
    this.queues.set(id, settled);
    void settled.then(() => {
      if (this.queues.get(id) === settled) this.queues.delete(id);
    });
    return current;
  }

  /** The version an earlier flush of this handle produced, if it was flushed lately. */
  flushedVersion(bucket: string, objectName: string, handleText: string): string | undefined {
    const id = HANDLE_PATTERN.exec(handleText)?.[1];
    const flushed = id === undefined ? undefined : this.flushed.get(id);
    return flushed?.bucket === bucket && flushed.objectName === objectName ? flushed.version : undefined;
  }

  /** Where the work file is, as a path the kernel resolves inside the held work folder. */
  async holdWorkFolder(bucket: string, create: boolean): Promise<HeldFolders> {
    return HeldFolders.open(this.dataDir, [bucket, WORK_FOLDER], create ? 1 : 2, `work folder of ais://${bucket}`);
  }

  /** The work file became the object (its name is gone from the work folder). */
  async flushedAs(file: WorkFile, version: string): Promise<void> {
    this.files.delete(file.id);
    this.flushed.set(file.id, { bucket: file.bucket, objectName: file.objectName, version, atMs: Date.now() });
    await file.handle.close().catch(() => undefined);
  }

  /** Work files in use now (for tests and logs). */
  get active(): number {
    return this.files.size;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.files.values()].map((file) => file.handle.close().catch(() => undefined)));
    this.files.clear();
  }

  /** Drops what was left unused for `idleMs`: known work files, and files in work folders no handle names. */
  async sweep(nowMs: number = Date.now()): Promise<void> {
    const cutoffMs = nowMs - this.idleMs;
    for (const [id, flushed] of this.flushed) if (flushed.atMs < cutoffMs) this.flushed.delete(id);
    for (const file of [...this.files.values()]) {
      if (file.lastUsedMs >= cutoffMs || this.queues.has(file.id)) continue;
      this.files.delete(file.id);
      await file.handle.close().catch(() => undefined);
      await this.remove(file.bucket, file.id);
      this.logger.info({ bucket: file.bucket, object: file.objectName }, 'abandoned append removed');
    }
    let buckets: string[];
    try {
      buckets = (await readdir(this.dataDir, { withFileTypes: true })).filter((dirent) => dirent.isDirectory()).map((dirent) => dirent.name);
    } catch {
      return;
    }
    for (const bucket of buckets) await this.sweepFolder(bucket, cutoffMs);
  }

  private async sweepFolder(bucket: string, cutoffMs: number): Promise<void> {
    let folder: HeldFolders;
    try {
      folder = await this.holdWorkFolder(bucket, false);
    } catch {
      return;
    }
    try {
      for (const name of await readdir(folder.pathOf(''))) {
        if (this.files.has(name)) continue;
        const stats = await stat(folder.pathOf(name)).catch(() => undefined);
        if (stats !== undefined && stats.mtimeMs < cutoffMs) await unlink(folder.pathOf(name)).catch(() => undefined);
      }
    } catch (error) {
      this.logger.debug({ err: error, bucket }, 'work folder sweep failed');
    } finally {
      await folder.close();
    }
  }

  private async remove(bucket: string, id: string): Promise<void> {
    try {
      const folder = await this.holdWorkFolder(bucket, false);
      try {
        await unlink(folder.pathOf(id));
      } finally {
        await folder.close();
      }
    } catch {
      // Already gone (its bucket too, perhaps).
    }
  }
}

function unknownHandle(handleText: string): BadRequestError {
  return new BadRequestError(
    `append handle "${handleText}" is unknown to this server (never issued, already flushed, or abandoned and removed): start the append again with an empty handle`,
  );
}
