import type { Logger } from 'pino';
import { Errno, FsError, toFsError } from '../fs/errno.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, type AttrChanges, type DirEntry, type DirStream, type FileAttr, type InodeFilesystem, type PathFilesystem } from '../fs/types.js';
import { accessErrno, type OperationObserver } from './fuse-operations.js';
import { ENGINE_FH_BASE, NativeOp, SETATTR_FIELDS, SETATTR_WITH_FH, WRITE_REPORT_NUMBERS, type NativeAddon, type NativeContext, type NativeDispatch } from './native-addon.js';
import { collectCacheHit, HeldCacheRanges, lendAhead, READ_AFTER_CACHE_FAILURE, type CacheHit, type WholeBlockReports } from './native-cache-hits.js';
import { OpenOfferBatch } from './native-open-offers.js';
import { putStat, STAT_NUMBERS } from './stat.js';

type RefusedOp = Parameters<PathFilesystem['refuseWrite']>[0];
/** What the engine still hands to the core's refusals: everything else is a request of its own. */
const REFUSED_OPS = new Set<string>(['symlink', 'link', 'mknod']);


const OP_NAMES = new Map<number, string>([
  [NativeOp.lookup, 'lookup'],
  [NativeOp.getattr, 'getattr'],
  [NativeOp.open, 'open'],
  [NativeOp.read, 'read'],
  [NativeOp.release, 'release'],
  [NativeOp.opendir, 'opendir'],
  [NativeOp.readdir, 'readdir'],
  [NativeOp.releasedir, 'releasedir'],
  [NativeOp.forget, 'forget'],
  [NativeOp.statfs, 'statfs'],
  [NativeOp.access, 'access'],
  [NativeOp.unlink, 'unlink'],
  [NativeOp.create, 'create'],
  [NativeOp.write, 'write'],
  [NativeOp.flush, 'flush'],
  [NativeOp.fsync, 'fsync'],
  [NativeOp.mkdir, 'mkdir'],
  [NativeOp.rmdir, 'rmdir'],
  [NativeOp.rename, 'rename'],
  [NativeOp.setattr, 'setattr'],
]);

/**
 * Requests that wait for an upload: as long as the upload takes (the core's per-call deadline bounds its
 * retries, not its length), so the failsafe timeout would answer ETIMEDOUT for an upload still landing.
 * The teardown still answers them (`stop`).
 */
const UPLOAD_OPS = new Set<number>([NativeOp.flush, NativeOp.fsync, NativeOp.release]);

/**
 * Requests that may change what the engine's open offers were made of (a file now being written, gone, moved):
 * every offer goes when one arrives and again when the core is done, so opens meanwhile and after ask the core.
 */
const CHANGING_OPS = new Set<number>([NativeOp.create, NativeOp.unlink, NativeOp.rename, NativeOp.setattr, NativeOp.rmdir, NativeOp.mkdir]);
const WRITE_ACCESS = 0o3;
const O_TRUNC = 0o1000;
/** An open that may change the file: the core's alone, and the offers go as for `CHANGING_OPS`. */
function changesFile(op: number, flags: number): boolean {
  return CHANGING_OPS.has(op) || (op === NativeOp.open && ((flags & WRITE_ACCESS) !== 0 || (flags & O_TRUNC) !== 0));
}

/**
 * Entries per batch handed to the engine: it serves the kernel's small readdir requests from a
 * batch, so a folder crosses into JS once per this many entries.
 */
const DIR_BATCH_ENTRIES = 1024;
/** `.` and `..` take the first two offsets of every directory. */
const DOT_ENTRIES = 2;

export interface NativeDispatchOptions {
  readonly fs: PathFilesystem & InodeFilesystem;
  readonly addon: NativeAddon;
  /** The mount's context; requests only arrive once `mount` has returned it. */
  readonly context: () => NativeContext;
  /** The read slots (views of `readSlots`), by slot number. */
  readonly slots: () => readonly Buffer[];
  readonly logger: Logger;
  readonly observer: OperationObserver;
  /** A request the core has not answered after this long gets ETIMEDOUT: the last failsafe against a hang. */
  readonly operationTimeoutMs: number;
  /** The kernel finished the handshake (INIT). */
  readonly onInitialized: () => void;
  /** The session loop ended: the mount is gone and no request will come. */
  readonly onEnded: () => void;
}

/** One kernel request as the addon described it. */
interface NativeRequest {
  readonly op: number;
  readonly id: number;
  readonly ino: number;
  readonly name: string | undefined;
  readonly fh: number;
  readonly offset: number;
  readonly size: number;
  readonly flags: number;
  readonly refusedOp: string | undefined;
  /** Where a read's bytes go; a write's bytes; a batch's hand-out counts; a setattr's fields. */
  readonly target: Buffer | undefined;
  readonly mode: number;
  readonly newParent: number;
  readonly newName: string | undefined;
}

/** Sends the answer to the addon; returns the bytes delivered (read) for metrics. */
type Answer = (addon: NativeAddon, context: NativeContext, id: number) => number;

const ok: Answer = (addon, context, id) => {
  addon.replyError(context, id, 0);
  return 0;
};

/** Answers with `attr`; returns whether the answer was taken (not answered by a timeout first). */
function attrAnswer(attr: FileAttr): (addon: NativeAddon, context: NativeContext, id: number) => boolean {
  return (addon, context, id) => {
    const numbers = new Float64Array(STAT_NUMBERS);
    putStat(numbers, 0, attr);
    return addon.replyAttr(context, id, numbers);
  };
}

/** An open directory: its stream, its own attributes (for `.` and `..`) and the numbers of the batch the engine holds. */
interface OpenDir {
  readonly stream: DirStream;
  readonly self: FileAttr;
  /** Entry numbers of the batch handed out last, 0 for the dots; held until the engine settles it. */
  held: number[];
}

/** The engine's open directories by handle, and their batches' lookups. */
class OpenDirs {
  private readonly dirs = new Map<number, OpenDir>();
  private nextHandle = 1;

  constructor(private readonly fs: InodeFilesystem) {}

  add(stream: DirStream, self: FileAttr): number {
    const handle = this.nextHandle;
    this.nextHandle += 1;
    this.dirs.set(handle, { stream, self, held: [] });
    return handle;
  }

  get(handle: number): OpenDir {
    const dir = this.dirs.get(handle);
    if (dir === undefined) throw new FsError(Errno.EBADF, `no open directory with handle ${handle}`);
    return dir;
  }

  /** The engine is done with the last batch: `counts` says how often each entry went to the kernel. */
  settle(dir: OpenDir, counts: Buffer | undefined): void {
    const { held } = dir;
    const counted = counts === undefined ? 0 : Math.min(held.length, counts.length >>> 2);
    for (let index = 0; index < held.length; index += 1) {
      const ino = held[index] as number;
      if (ino !== 0) this.fs.settleIno(ino, index < counted ? (counts as Buffer).readUInt32LE(index * 4) : 0);
    }
    dir.held = [];
  }

  close(handle: number, counts: Buffer | undefined): void {
    const dir = this.dirs.get(handle);
    if (dir === undefined) return;
    this.settle(dir, counts);
    dir.stream.close();
    this.dirs.delete(handle);
  }

  /** The entries at `offset`…, dots first; each entry's number held until the batch is settled. */
  async batch(dir: OpenDir, offset: number): Promise<{ names: string; count: number; attrs: Float64Array; entries: readonly DirEntry[] }> {
    const names: string[] = [];
    for (let position = offset; position < DOT_ENTRIES; position += 1) names.push(position === 0 ? '.' : '..');
    const dots = names.length;
    const position = Math.max(0, offset - DOT_ENTRIES);
    const { readHeld } = dir.stream;
    const held = readHeld !== undefined;
    const entries = held ? await readHeld(position, DIR_BATCH_ENTRIES - dots) : await dir.stream.read(position, DIR_BATCH_ENTRIES - dots);
    // Each entry goes straight into what the engine takes, with no array or closure per entry.
    const count = dots + entries.length;
    const attrs = new Float64Array(count * STAT_NUMBERS);
    const inos = new Array<number>(count).fill(0);
    for (let index = 0; index < dots; index += 1) putStat(attrs, index, dir.self);
    for (let index = 0; index < entries.length; index += 1) {
      const { name, attr } = entries[index] as DirEntry;
      names.push(name);
      putStat(attrs, dots + index, attr);
      inos[dots + index] = attr.ino;
      if (!held) this.fs.holdIno(attr.ino);
    }
    dir.held = inos;
    return { names: names.join('\0'), count, attrs, entries };
  }
}

/** Applies a FORGET (`ino`, `count`) or a BATCH_FORGET (pairs of doubles in `pairs`). */
function forget(fs: InodeFilesystem, ino: number, count: number, pairs: Buffer | undefined): void {
  if (pairs === undefined) {
    fs.forget(ino, count);
    return;
  }
  for (let offset = 0; offset + 16 <= pairs.length; offset += 16) fs.forget(pairs.readDoubleLE(offset), pairs.readDoubleLE(offset + 8));
}

/** A setattr's changes from the addon's fields (NaN: not asked for). */
export function attrChangesFrom(fields: Buffer | undefined): AttrChanges {
  if (fields === undefined || fields.length < SETATTR_FIELDS * 8) throw new Error('setattr without its fields');
  const field = (index: number): number | undefined => {
    const value = fields.readDoubleLE(index * 8);
    return Number.isNaN(value) ? undefined : value;
  };
  const entries = Object.entries({ size: field(0), mode: field(1), uid: field(2), gid: field(3), atimeMs: field(4), mtimeMs: field(5) });
  return Object.fromEntries(entries.filter(([, value]) => value !== undefined)) as AttrChanges;
}

/**
 * An entry answer for a request that counted one lookup (lookup, mkdir): not taken, the count is given back.
 * `offers`, sent first, let the engine open the file alone.
 */
function countedEntryAnswer(fs: InodeFilesystem, attr: FileAttr, offers?: OpenOfferBatch): Answer {
  const answer = attrAnswer(attr);
  return (addon, context, id) => {
    offers?.send(addon, context);
    if (!answer(addon, context, id)) fs.forget(attr.ino, 1);
    return 0;
  };
}

function offersOf(fs: InodeFilesystem, attrs: readonly FileAttr[]): OpenOfferBatch {
  const offers = new OpenOfferBatch(fs);
  for (const attr of attrs) offers.add(attr);
  return offers;
}

/** Releases a handle whose open the kernel never got; the core only forgets its own state, nothing to report. */
function releaseOrphan(fs: PathFilesystem, fh: number): void {
  fs.release(fh).catch(() => {});
}

/**
 * A read the local cache holds: the engine reads and checks the ranges itself; what they do not cover
 * (the end of the file, a block not cached) is read here first, into the request's buffer.
 */
async function serveCacheHit(fs: PathFilesystem, held: HeldCacheRanges, request: NativeRequest & { readonly target: Buffer }, hit: CacheHit): Promise<Answer> {
  let tailBytes = 0;
  if (hit.covered < request.size) {
    try {
      tailBytes = await fs.read(request.fh, request.target, request.size - hit.covered, request.offset + hit.covered);
    } catch (error) {
      for (const range of hit.ranges) range.release();
      throw error;
    }
  }
  return (addon, context, id) => {
    held.hold(id, hit.ranges);
    let taken: boolean;
    try {
      taken = addon.replyCached(context, id, hit.numbers, hit.crcs, tailBytes);
    } catch (error) {
      held.release(id);
      throw error;
    }
    // Refused: answered already (a timeout, the teardown), the engine never reads the ranges.
    if (!taken) held.release(id);
    // The reads to come of a large cached object: served by the engine from the blocks lent to it, without asking.
    else if (tailBytes === 0) lendAhead(fs, addon, context, request.fh, request.offset + hit.covered, held.logger);
    return hit.covered + tailBytes;
  };
}

/** The handles whose writes the engine serves into their staging files (native/staged_write.c). */
interface StagedWrites {
  readonly handles: Set<number>;
  readonly addon: NativeAddon;
  readonly context: () => NativeContext;
}

/**
 * Applies the engine's reports of writes it served (WRITE_REPORT_NUMBERS doubles each), counting each as a write,
 * then moves each handle's room ahead of what it wrote: a steady writer never waits for the core.
 */
function applyWriteReports(fs: PathFilesystem & InodeFilesystem, staged: StagedWrites, reports: Buffer | undefined, countOperation: (op: string, errno: number, seconds: number, bytes: number) => void): void {
  if (reports === undefined) return;
  const step = WRITE_REPORT_NUMBERS * 8;
  const written = new Set<number>();
  for (let offset = 0; offset + step <= reports.length; offset += step) {
    const fh = reports.readDoubleLE(offset);
    const bytes = reports.readDoubleLE(offset + 16);
    const errno = reports.readDoubleLE(offset + 24);
    fs.engineWrote?.(fh, reports.readDoubleLE(offset + 8), bytes, errno);
    countOperation('write', errno, reports.readDoubleLE(offset + 32), bytes);
    written.add(fh);
  }
  for (const fh of written) {
    const writableEnd = staged.handles.has(fh) ? fs.engineWritableEnd?.(fh) : undefined;
    if (writableEnd !== undefined) staged.addon.stagedWriteEnd(staged.context(), fh, writableEnd);
  }
}

/** The core's work for one request; resolves with how to answer it, rejects with the errno's error. */
async function serve(fs: PathFilesystem & InodeFilesystem, dirs: OpenDirs, held: HeldCacheRanges, staged: StagedWrites, request: NativeRequest): Promise<Answer> {
  const stagedHandles = staged.handles;
  switch (request.op) {
    case NativeOp.lookup: {
      // The lookup was counted: an answer that never reaches the kernel (timed out) is one it will not forget.
      const attr = await fs.lookupChild(request.ino, request.name ?? '');
      return countedEntryAnswer(fs, attr, offersOf(fs, [attr]));
    }
    case NativeOp.getattr: {
      const answer = attrAnswer(await fs.attrByIno(request.ino));
      return (addon, context, id) => {
        answer(addon, context, id);
        return 0;
      };
    }
    case NativeOp.open: {
      const opened = await fs.openByIno(request.ino, request.flags, { engineReadsBlocks: true });
      const block = opened.wholeBlock;
      // No direct_io: the page cache and kernel read-ahead are what make a buffered reader fast.
      return (addon, context, id) => {
        const taken = block === undefined
          ? addon.replyOpen(context, id, opened.fh, opened.keepCache, false, false)
          : addon.replyOpen(context, id, opened.fh, opened.keepCache, false, false, block.path, block.key, block.dataBytes);
        // Refused: the kernel got its answer already (a timeout, the teardown) and will never release this handle.
        if (!taken) releaseOrphan(fs, opened.fh);
        return 0;
      };
    }
    case NativeOp.read: {
      if (request.target === undefined) throw new Error('read without a buffer');
      if ((request.flags & READ_AFTER_CACHE_FAILURE) !== 0) {
        // The engine could not serve the hit it was given: drop what is at fault, then read as usual.
        held.failed(request.id, request.flags);
      } else {
        const hit = collectCacheHit(fs, request.fh, request.offset, request.size);
        if (hit !== undefined) return serveCacheHit(fs, held, { ...request, target: request.target }, hit);
      }
      const bytes = await fs.read(request.fh, request.target, request.size, request.offset);
      return (addon, context, id) => {
        addon.replyRead(context, id, bytes);
        return bytes;
      };
    }
    case NativeOp.release:
      if (stagedHandles.delete(request.fh)) staged.addon.stagedWriteDrop(staged.context(), request.fh);
      await fs.release(request.fh);
      return ok;
    case NativeOp.opendir: {
      const [self, stream] = await Promise.all([fs.attrByIno(request.ino), fs.openDirByIno(request.ino)]);
      const handle = dirs.add(stream, self);
      // The kernel may always cache what it reads; whether it may keep it across opens is the core's word.
      return (addon, context, id) => {
        if (!addon.replyOpen(context, id, handle, stream.kernelMayKeep, false, true)) dirs.close(handle, undefined);
        return 0;
      };
    }
    case NativeOp.readdir: {
      const dir = dirs.get(request.fh);
      dirs.settle(dir, request.target);
      const { names, count, attrs, entries } = await dirs.batch(dir, request.offset);
      const offers = offersOf(fs, entries.map((entry) => entry.attr));
      return (addon, context, id) => {
        offers.send(addon, context);
        if (!addon.replyDir(context, id, names, count, attrs, false)) dirs.settle(dir, undefined);
        return 0;
      };
    }
    case NativeOp.releasedir:
      dirs.close(request.fh, request.target);
      return ok;
    case NativeOp.statfs: {
      const info = await fs.statfs('/');
      return (addon, context, id) => {
        addon.replyStatfs(context, id, info.blockSize, info.blocks, info.blocksFree, info.blocksAvailable, info.files, info.filesFree, info.nameMax);
        return 0;
      };
    }
    case NativeOp.access: {
      const errno = accessErrno(await fs.attrByIno(request.ino), request.flags);
      return (addon, context, id) => {
        addon.replyError(context, id, errno);
        return 0;
      };
    }
    case NativeOp.unlink:
      await fs.unlinkChild(request.ino, request.name ?? '');
      return ok;
    case NativeOp.create: {
      const created = await fs.createChild(request.ino, request.name ?? '', request.mode, request.flags, { engineWritesStaged: true });
      const numbers = new Float64Array(STAT_NUMBERS);
      putStat(numbers, 0, created.attr);
      const { staged } = created;
      // A new file: nothing of it is in the page cache yet, and what this mount writes goes through it.
      return (addon, context, id) => {
        const taken = staged === undefined
          ? addon.replyCreate(context, id, created.fh, numbers, false)
          : addon.replyCreate(context, id, created.fh, numbers, false, staged.fd, staged.writableEnd);
        if (!taken) {
          fs.forget(created.attr.ino, 1);
          releaseOrphan(fs, created.fh);
        } else if (staged !== undefined) {
          stagedHandles.add(created.fh);
        }
        return 0;
      };
    }
    case NativeOp.write: {
      if (request.target === undefined) throw new Error('write without its bytes');
      const taken = await fs.write(request.fh, request.target, request.offset);
      // A write past the room the engine may fill: more is set aside now, so the next ones stay in the engine.
      const writableEnd = stagedHandles.has(request.fh) ? fs.engineWritableEnd?.(request.fh) : undefined;
      return (addon, context, id) => {
        if (writableEnd !== undefined) addon.stagedWriteEnd(context, request.fh, writableEnd);
        addon.replyWrite(context, id, taken);
        return taken;
      };
    }
    case NativeOp.flush:
      await fs.flush(request.fh);
      return ok;
    case NativeOp.fsync:
      await fs.fsync(request.fh);
      return ok;
    case NativeOp.mkdir:
      return countedEntryAnswer(fs, await fs.mkdirChild(request.ino, request.name ?? '', request.mode));
    case NativeOp.rmdir:
      await fs.rmdirChild(request.ino, request.name ?? '');
      return ok;
    case NativeOp.rename: {
      // Swapping two names is not one store call: refused as Linux does for a filesystem without it.
      if ((request.flags & ~RENAME_NOREPLACE) !== 0) {
        throw new FsError(Errno.EINVAL, `rename ${request.name ?? ''}: flags ${request.flags} not supported${request.flags & RENAME_EXCHANGE ? ' (RENAME_EXCHANGE)' : ''}`);
      }
      await fs.renameChild(request.ino, request.name ?? '', request.newParent, request.newName ?? '', request.flags);
      return ok;
    }
    case NativeOp.setattr: {
      const changes = attrChangesFrom(request.target);
      const fh = (request.flags & SETATTR_WITH_FH) !== 0 ? request.fh : undefined;
      const answer = attrAnswer(await fs.setattrByIno(request.ino, changes, fh));
      return (addon, context, id) => {
        answer(addon, context, id);
        return 0;
      };
    }
    case NativeOp.refuse: {
      const op = request.refusedOp ?? '';
      if (!REFUSED_OPS.has(op)) throw new Error(`unknown refused operation ${op}`);
      // A special file is refused as the fuse-native engine refuses it: through the core's create refusal.
      if (op === 'mknod') return fs.refuseWrite('create', request.name === undefined ? '/' : `/${request.name}`);
      // The path only names the request in the core's message: the errno does not depend on it.
      return fs.refuseWrite(op as RefusedOp, request.name === undefined ? '/' : `/${request.name}`);
    }
    default:
      throw new FsError(Errno.ENOSYS, `unknown native request ${request.op}`);
  }
}

/**
 * The function the addon calls for each kernel request, on the JS thread. It never throws and
 * answers every request once: the core's result, or the errno of whatever went wrong. A second
 * answer (after the teardown answered already) is ignored by the addon.
 */
export function createNativeDispatch(options: NativeDispatchOptions): NativeDispatch {
  const { fs, addon, logger, observer } = options;
  const dirs = new OpenDirs(fs);
  const held = new HeldCacheRanges(logger, addon.libfuseVersion);
  const staged: StagedWrites = { handles: new Set(), addon, context: options.context };
  const countOperation = (op: string, errno: number, seconds: number, bytes: number): void => {
    try {
      observer.operationDone({ op, errno, durationSeconds: seconds, bytes });
    } catch (error) {
      logger.debug({ op, err: error }, 'operation observer failed');
    }
  };
  // Requests the engine answered alone, counted as the operations they were.
  // Handles the engine opened alone, by number: the file's inode (the core has no handle of them).
  const engineOpened = new Map<number, number>();
  const releaseCore = (fh: number): void => {
    void fs.release(fh).catch((error: unknown) => logger.debug({ err: error }, 'releasing a handle served from its whole block failed'));
  };
  const wholeBlocks: WholeBlockReports = {
    served: (fh, bytes, seconds) => {
      if (fh > ENGINE_FH_BASE) fs.engineServedOfferByIno?.(engineOpened.get(fh) ?? 0, bytes);
      else fs.engineServed?.(fh, bytes);
      countOperation('read', 0, seconds, bytes);
    },
    lacking: (fh) => fs.engineLacksBlock?.(fh),
    released: (fh, seconds) => {
      countOperation('release', 0, seconds, 0);
      if (fh > ENGINE_FH_BASE) engineOpened.delete(fh);
      else releaseCore(fh);
    },
    lendFrom: (fh, position) => lendAhead(fs, addon, options.context(), fh, position, logger),
    opened: (fh, ino) => {
      engineOpened.set(fh, ino);
      countOperation('open', 0, 0, 0);
    },
    releasedWithCore: (fh, coreFh) => {
      countOperation('release', 0, 0, 0);
      engineOpened.delete(fh);
      releaseCore(coreFh);
    },
  };
  /**
   * A FORGET only drops counts, synchronously: it is answered at once, without the timer and promise of
   * other requests, since a walk of a big tree makes the kernel send them by the thousand.
   */
  const forgetAtOnce = (id: number, ino: number, count: number, pairs: Buffer | undefined): void => {
    const startNs = process.hrtime.bigint();
    let errno = 0;
    try {
      forget(fs, ino, count, pairs);
    } catch (error) {
      const fsError = toFsError(error);
      errno = fsError.errno;
      logger.debug({ op: 'forget', ino, errno, msg: fsError.message }, 'operation failed');
    }
    try {
      addon.replyError(options.context(), id, errno);
    } catch (replyError) {
      logger.error({ op: 'forget', err: replyError }, 'the native engine rejected an answer');
    }
    countOperation('forget', errno, Number(process.hrtime.bigint() - startNs) / 1e9, 0);
  };
  const dropOffers = (): void => {
    try {
      addon.dropOpenOffers(options.context());
    } catch (error) {
      logger.debug({ err: error }, 'dropping the open offers failed');
    }
  };
  return (op, id, ino, name, fh, offset, size, flags, buffer, refusedOp, slot, mode, newParent, newName) => {
    if (op === NativeOp.cacheSettled) return held.settle(buffer, wholeBlocks);
    if (op === NativeOp.writesReported) return applyWriteReports(fs, staged, buffer, countOperation);
    if (op === NativeOp.ended) {
      held.releaseEverything();
      return options.onEnded();
    }
    if (op === NativeOp.initialized) return options.onInitialized();
    if (op === NativeOp.forget) return forgetAtOnce(id, ino, size, buffer);
    const startNs = process.hrtime.bigint();
    const opName = op === NativeOp.refuse ? (refusedOp ?? 'refuse') : (OP_NAMES.get(op) ?? `op${op}`);
    const report = (errno: number, bytes: number): void => countOperation(opName, errno, Number(process.hrtime.bigint() - startNs) / 1e9, bytes);
    let timedOut = false;
    const fail = (error: unknown): void => {
      if (timedOut) return;
      const fsError = toFsError(error);
      if (fsError.errno !== Errno.ENOENT) logger.debug({ op: opName, ino, name, errno: fsError.errno, msg: fsError.message }, 'operation failed');
      try {
        addon.replyError(options.context(), id, fsError.errno);
      } catch (replyError) {
        logger.error({ op: opName, err: replyError }, 'the native engine rejected an error answer');
      }
      report(fsError.errno, 0);
    };
    // A core that never settles must not hold a libfuse worker forever.
    const timer = UPLOAD_OPS.has(op) ? undefined : setTimeout(() => {
      timedOut = true;
      if (addon.abandon(options.context(), id, Errno.ETIMEDOUT)) {
        logger.warn({ op: opName, ino, name, timeoutMs: options.operationTimeoutMs }, 'operation timed out: answered ETIMEDOUT');
        report(Errno.ETIMEDOUT, 0);
      }
    }, options.operationTimeoutMs);
    const changing = changesFile(op, flags);
    if (changing) dropOffers();
    let working: Promise<Answer>;
    try {
      const target = slot >= 0 ? options.slots()[slot]?.subarray(0, size) : buffer;
      working = serve(fs, dirs, held, staged, { op, id, ino, name, fh, offset, size, flags, refusedOp, target, mode, newParent, newName });
    } catch (error) {
      working = Promise.reject(error);
    }
    working = working.finally(() => {
      clearTimeout(timer);
      if (changing) dropOffers();
    });
    working.then((answer) => {
      if (timedOut) {
        // The addon refuses a late answer; an answer holding something (an open's handle) gives it back then.
        try {
          answer(addon, options.context(), id);
        } catch (error) {
          logger.debug({ op: opName, err: error }, 'late answer after a timeout failed');
        }
        return;
      }
      let bytes: number;
      try {
        bytes = answer(addon, options.context(), id);
      } catch (error) {
        return fail(error);
      }
      report(0, bytes);
    }, fail);
  };
}
