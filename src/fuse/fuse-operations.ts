import { constants as fsConstants } from 'node:fs';
import type Fuse from 'fuse-native';
import type { Logger } from 'pino';
import { Errno, toFsError } from '../fs/errno.js';
import type { FileAttr, PathFilesystem, StatfsInfo } from '../fs/types.js';
import { statFields } from './stat.js';

const CREATE_FLAGS = fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_TRUNC;
const R_OK = 4;
const W_OK = 2;
const X_OK = 1;

export function statFromAttr(attr: FileAttr): Fuse.Stat {
  const { mtimeMs, ...fields } = statFields(attr);
  const mtime = new Date(mtimeMs);
  return {
    ...fields,
    atime: mtime,
    mtime,
    ctime: mtime,
  };
}

export function statfsFromInfo(info: StatfsInfo): Fuse.Statfs {
  return {
    bsize: info.blockSize,
    frsize: info.blockSize,
    blocks: info.blocks,
    bfree: info.blocksFree,
    bavail: info.blocksAvailable,
    files: info.files,
    ffree: info.filesFree,
    favail: info.filesFree,
    fsid: 0,
    flag: 0,
    namemax: info.nameMax,
  };
}

/** Who asks, when the engine knows it. */
export interface Caller {
  readonly uid: number;
  readonly gid: number;
}

/**
 * The access(2) answer by the kernel's own rule: the owner, group or other bits by the caller's ids, and root
 * reads and writes anything and executes what has any x bit. Mounts use default_permissions, so the kernel
 * answers access(2) itself and this is only the answer for a request that still arrives; without a caller it
 * answers for the owner, the one user a mount without --allow-other admits.
 */
export function accessErrno(attr: FileAttr, mask: number, caller?: Caller): number {
  const wanted = mask & (R_OK | W_OK | X_OK);
  if (caller?.uid === 0) {
    const anyExecute = (attr.mode & 0o111) !== 0;
    return (wanted & X_OK) === 0 || anyExecute ? 0 : Errno.EACCES;
  }
  const shift = caller === undefined || caller.uid === attr.uid ? 6 : caller.gid === attr.gid ? 3 : 0;
  const granted = (attr.mode >> shift) & 7;
  return (granted & wanted) === wanted ? 0 : Errno.EACCES;
}

type Reply = (result: number) => void;

/** What the adapter reports about each kernel request once it is answered (metrics hook). */
export interface OperationOutcome {
  readonly op: string;
  /** 0 on success, else the positive errno the kernel got. */
  readonly errno: number;
  readonly durationSeconds: number;
  /** Bytes handed to the kernel (read only; 0 otherwise). */
  readonly bytes: number;
}

export interface OperationObserver {
  /** Called once per answered request; must not throw (it runs on the answer path). */
  operationDone(outcome: OperationOutcome): void;
}

const NO_OBSERVER: OperationObserver = { operationDone: () => {} };

function secondsSince(startNs: bigint): number {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

/**
 * Runs one operation so that fuse-native always gets exactly one answer: a result, or the
 * negative errno of whatever went wrong. Nothing is ever thrown back into fuse-native.
 */
function answerRequest(op: string, path: string, logger: Logger, observer: OperationObserver, reply: Reply, work: () => Promise<number>): void {
  const startNs = process.hrtime.bigint();
  let answered = false;
  const answer = (value: number): void => {
    if (answered) return;
    answered = true;
    try {
      observer.operationDone({ op, errno: value < 0 ? -value : 0, durationSeconds: secondsSince(startNs), bytes: op === 'read' && value > 0 ? value : 0 });
    } catch (error) {
      logger.debug({ op, err: error }, 'operation observer failed');
    }
    try {
      reply(value);
    } catch (error) {
      logger.error({ op, path, err: error }, 'fuse-native rejected an answer');
    }
  };
  let running: Promise<number>;
  try {
    running = work();
  } catch (error) {
    running = Promise.reject(error);
  }
  running.then(answer, (error: unknown) => {
    const fsError = toFsError(error);
    if (fsError.errno !== Errno.ENOENT) logger.debug({ op, path, errno: fsError.errno, msg: fsError.message }, 'operation failed');
    answer(-fsError.errno);
  });
}

/** fuse-native hands times as milliseconds (or a Date, as its types say). */
function timeMs(time: Date | number): number {
  return typeof time === 'number' ? time : time.getTime();
}

/** fuse-native callbacks over a `PathFilesystem`; what the core does not support it refuses itself. */
export function createFuseOperations(fs: PathFilesystem, logger: Logger, observer: OperationObserver = NO_OBSERVER): Fuse.Operations {
  const answerOnce = (op: string, path: string, opLogger: Logger, reply: Reply, work: () => Promise<number>): void =>
    answerRequest(op, path, opLogger, observer, reply, work);
  const withValue = <T>(op: string, path: string, cb: Fuse.ValueCallback<T>, work: () => Promise<T>): void => {
    let value: T | undefined;
    answerOnce(op, path, logger, (result) => (result < 0 ? cb(result) : cb(0, value)), async () => {
      value = await work();
      return 0;
    });
  };
  const plain = (op: string, path: string, cb: Fuse.Callback, work: () => Promise<unknown>): void =>
    answerOnce(op, path, logger, cb, async () => {
      await work();
      return 0;
    });
  const refuse = (op: Parameters<PathFilesystem['refuseWrite']>[0], path: string, cb: (result: number) => void): void =>
    answerOnce(op, path, logger, cb, () => fs.refuseWrite(op, path));

  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => withValue('getattr', path, cb, async () => statFromAttr(await fs.getattr(path))),
    fgetattr: (path, _fd, cb) => withValue('fgetattr', path, cb, async () => statFromAttr(await fs.getattr(path))),
    access: (path, mode, cb) =>
      answerOnce('access', path, logger, cb, async () => -accessErrno(await fs.getattr(path), mode)),
    statfs: (path, cb) => withValue('statfs', path, cb, async () => statfsFromInfo(await fs.statfs(path))),
    readdir: (path, cb) => {
      let names: string[] = [];
      let stats: Fuse.Stat[] = [];
      answerOnce('readdir', path, logger, (result) => (result < 0 ? cb(result) : cb(0, names, stats)), async () => {
        const [self, entries] = await Promise.all([fs.getattr(path), fs.readdir(path)]);
        const selfStat = statFromAttr(self);
        names = ['.', '..', ...entries.map((entry) => entry.name)];
        stats = [selfStat, selfStat, ...entries.map((entry) => statFromAttr(entry.attr))];
        return 0;
      });
    },
    open: (path, flags, cb) => withValue('open', path, cb, async () => (await fs.open(path, flags)).fh),
    read: (path, fd, buffer, length, position, cb) =>
      answerOnce('read', path, logger, cb, () => fs.read(fd, buffer, length, position)),
    release: (path, fd, cb) => plain('release', path, cb, () => fs.release(fd)),
    unlink: (path, cb) => plain('unlink', path, cb, () => fs.unlink(path)),
    write: (path, fd, buffer, length, position, cb) =>
      answerOnce('write', path, logger, cb, () => fs.write(fd, length === buffer.length ? buffer : buffer.subarray(0, length), position)),
    flush: (path, fd, cb) => plain('flush', path, cb, () => fs.flush(fd)),
    fsync: (path, _datasync, fd, cb) => plain('fsync', path, cb, () => fs.fsync(fd)),
    // fuse-native passes no flags to create: a new file open for reading and writing.
    create: (path, mode, cb) => withValue('create', path, cb, async () => (await fs.create(path, mode, CREATE_FLAGS)).fh),
    mknod: (path, _mode, _dev, cb) => refuse('create', path, cb),
    mkdir: (path, mode, cb) => plain('mkdir', path, cb, () => fs.mkdir(path, mode)),
    rmdir: (path, cb) => plain('rmdir', path, cb, () => fs.rmdir(path)),
    rename: (src, dest, cb) => plain('rename', src, cb, () => fs.rename(src, dest, 0)),
    link: (_src, dest, cb) => refuse('link', dest, cb),
    symlink: (_src, dest, cb) => refuse('symlink', dest, cb),
    truncate: (path, size, cb) => plain('truncate', path, cb, () => fs.setattr(path, { size })),
    ftruncate: (path, fd, size, cb) => plain('ftruncate', path, cb, () => fs.setattr(path, { size }, fd)),
    chmod: (path, mode, cb) => plain('chmod', path, cb, () => fs.setattr(path, { mode })),
    chown: (path, uid, gid, cb) => plain('chown', path, cb, () => fs.setattr(path, { uid, gid })),
    utimens: (path, atime, mtime, cb) => plain('utimens', path, cb, () => fs.setattr(path, { atimeMs: timeMs(atime), mtimeMs: timeMs(mtime) })),
  };
}
