import { randomBytes } from 'node:crypto';
import { renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { lstat, readFile, readdir, rename, unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { HeldFolders } from './safe-path.js';
import { WORK_FOLDER } from './work-files.js';

/** Names in a bucket's work folder: the record of a replace under way, and the file it displaced. */
const RECORD_SUFFIX = '.replacing';
const DISPLACED_SUFFIX = '.displaced';
/** Opens tried again after a replace ran while they were under way, before their ENOENT is believed. */
const SETTLE_ATTEMPTS = 8;

export class ReplaceRecordError extends Error {}

/**
 * Renames files over existing objects without making ext4 write the new file out first. A rename(2) that replaces
 * an existing file flushes the source's delayed-allocation blocks before it returns (`auto_da_alloc`): for a large
 * file just written, most of the flush's time. A rename onto a free name does not. So the old file is first moved
 * aside into the bucket's work folder, then the new one renamed onto the freed name, both in one turn of the event
 * loop: no request handler of this server runs between them. Opens already under way in the thread pool may meet
 * the gap; `settled` tries them again. A record written before the two renames lets `recover` put the old file back
 * when the process died between them.
 */
export class FileReplacer {
  /** Replaces made so far: an open that failed while this moved may have met the gap. */
  private replaces = 0;
  private readonly removals = new Set<Promise<void>>();

  constructor(
    private readonly dataDir: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Renames `fromPath` to `toPath` (both in folders of `bucket`, `segments` naming the object at `toPath`),
   * replacing the file there; readers holding it open keep reading it. What it replaced is removed afterwards.
   */
  async replace(fromPath: string, toPath: string, bucket: string, segments: readonly string[]): Promise<void> {
    const existing = await lstat(toPath).catch(() => undefined);
    // A name renamed onto itself stays as it is, as rename(2) leaves it.
    const same = existing?.isFile() === true && (await lstat(fromPath).catch(() => undefined))?.ino === existing.ino;
    if (existing?.isFile() !== true || same) {
      await rename(fromPath, toPath);
      return;
    }
    const scratch = await HeldFolders.open(this.dataDir, [bucket, WORK_FOLDER], 1, `work folder of ais://${bucket}`);
    let displaced: string | undefined;
    try {
      displaced = this.swapIn(fromPath, toPath, scratch, segments);
    } finally {
      if (displaced === undefined) await scratch.close();
    }
    if (displaced === undefined) return;
    const removal = unlink(displaced)
      .catch(() => undefined)
      .finally(() => scratch.close());
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
  }

  /**
   * Runs `attempt` (an open or stat of an object by name) again when it failed with ENOENT while a replace ran:
   * it may have looked in the instant the name was free.
   */
  async settled<T>(attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries += 1) {
      const before = this.replaces;
      try {
        return await attempt();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || this.replaces === before || tries >= SETTLE_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Runs `read` (a listing of a folder) again when a replace ran while it read: it may have looked in the instant
   * a name was free, and left it out.
   */
  async readSettled<T>(read: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries += 1) {
      const before = this.replaces;
      const result = await read();
      if (this.replaces === before || tries >= SETTLE_ATTEMPTS) return result;
    }
  }

  /** Waits for the removals of replaced files under way. */
  async close(): Promise<void> {
    await Promise.all([...this.removals]);
  }

  /**
   * Before serving: a replace the process did not finish (a record left) gets its old file back when the name is
   * free, and displaced files whose replace finished are removed.
   */
  async recover(): Promise<void> {
    let buckets: string[];
    try {
      buckets = (await readdir(this.dataDir, { withFileTypes: true })).filter((dirent) => dirent.isDirectory()).map((dirent) => dirent.name);
    } catch {
      return;
    }
    for (const bucket of buckets) {
      let scratch: HeldFolders;
      try {
        scratch = await HeldFolders.open(this.dataDir, [bucket, WORK_FOLDER], 2, `work folder of ais://${bucket}`);
      } catch {
        continue;
      }
      try {
        const names = await readdir(scratch.pathOf(''));
        for (const name of names.filter((entry) => entry.endsWith(RECORD_SUFFIX))) await this.recoverOne(bucket, scratch, name.slice(0, -RECORD_SUFFIX.length));
        for (const name of names.filter((entry) => entry.endsWith(DISPLACED_SUFFIX))) await unlink(scratch.pathOf(name)).catch(() => undefined);
      } catch (error) {
        this.logger.warn({ err: error, bucket }, 'recovery of unfinished replaces failed');
      } finally {
        await scratch.close();
      }
    }
  }

  /** The two renames and their record; answers the displaced file's path, undefined when nothing was displaced. */
  private swapIn(fromPath: string, toPath: string, scratch: HeldFolders, segments: readonly string[]): string | undefined {
    const id = randomBytes(8).toString('hex');
    const record = scratch.pathOf(`${id}${RECORD_SUFFIX}`);
    const displaced = scratch.pathOf(`${id}${DISPLACED_SUFFIX}`);
    writeFileSync(record, JSON.stringify(segments), { flag: 'wx', mode: 0o600 });
    this.replaces += 1;
    try {
      try {
        renameSync(toPath, displaced);
      } catch {
        // Gone meanwhile, or not movable there: the plain replace, which is just slower.
        renameSync(fromPath, toPath);
        return undefined;
      }
      try {
        renameSync(fromPath, toPath);
      } catch (error) {
        renameSync(displaced, toPath);
        throw error;
      }
      return displaced;
    } finally {
      try {
        unlinkSync(record);
      } catch (error) {
        this.logger.warn({ err: error, record }, 'replace record left behind');
      }
    }
  }

  private async recoverOne(bucket: string, scratch: HeldFolders, id: string): Promise<void> {
    const record = scratch.pathOf(`${id}${RECORD_SUFFIX}`);
    const displaced = scratch.pathOf(`${id}${DISPLACED_SUFFIX}`);
    const segments = parseRecord(await readFile(record, 'utf8'), record);
    if ((await lstat(displaced).catch(() => undefined)) !== undefined) {
      const what = `object "ais://${bucket}/${segments.join('/')}"`;
      const parents = await HeldFolders.open(this.dataDir, [bucket, ...segments.slice(0, -1)], 1, what);
      try {
        const leaf = parents.pathOf(segments[segments.length - 1] ?? '');
        if ((await lstat(leaf).catch(() => undefined)) === undefined) {
          await rename(displaced, leaf);
          this.logger.info({ bucket, object: segments.join('/') }, 'unfinished replace: the old object put back');
        } else {
          await unlink(displaced);
        }
      } finally {
        await parents.close();
      }
    }
    await unlink(record);
  }
}

function parseRecord(text: string, path: string): string[] {
  let segments: unknown;
  try {
    segments = JSON.parse(text);
  } catch {
    segments = undefined;
  }
  const valid =
    Array.isArray(segments) &&
    segments.length > 0 &&
    segments.every((segment) => typeof segment === 'string' && segment !== '' && segment !== '.' && segment !== '..' && !/[/\0]/.test(segment));
  if (!valid) throw new ReplaceRecordError(`replace record ${path} does not name an object`);
  return segments as string[];
}
