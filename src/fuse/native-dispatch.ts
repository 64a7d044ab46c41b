import type { Logger } from 'pino';
import { Errno, FsError, toFsError } from '../fs/errno.js';
import type { FileAttr, InodeFilesystem, PathFilesystem } from '../fs/types.js';
import { accessErrno, type OperationObserver } from './fuse-operations.js';
import { NativeOp, type NativeAddon, type NativeContext, type NativeDispatch } from './native-addon.js';

type RefusedOp = Parameters<PathFilesystem['refuseWrite']>[0];
const REFUSED_OPS = new Set<string>(['mkdir', 'rmdir', 'create', 'write', 'rename', 'truncate', 'chmod', 'chown', 'utimens', 'symlink', 'link']);

const OP_NAMES = new Map<number, string>([
  [NativeOp.lookup, 'lookup'],
  [NativeOp.getattr, 'getattr'],
  [NativeOp.open, 'open'],
  [NativeOp.read, 'read'],
  [NativeOp.release, 'release'],
  [NativeOp.opendir, 'readdir'],
  [NativeOp.statfs, 'statfs'],
  [NativeOp.access, 'access'],
  [NativeOp.unlink, 'unlink'],
]);

/** Numbers per entry in a listing's attribute array, in the order `replyAttr` takes them. */
const ATTR_FIELDS = 7;

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
  /** Where a read's bytes go. */
  readonly target: Buffer | undefined;
}

/** Sends the answer to the addon; returns the bytes delivered (read) for metrics. */
type Answer = (addon: NativeAddon, context: NativeContext, id: number) => number;

const ok: Answer = (addon, context, id) => {
  addon.replyError(context, id, 0);
  return 0;
};

function attrAnswer(attr: FileAttr): Answer {
  return (addon, context, id) => {
    addon.replyAttr(context, id, attr.ino, attr.mode, attr.nlink, attr.uid, attr.gid, attr.size, attr.mtimeMs);
    return 0;
  };
}

function putAttr(target: Float64Array, index: number, attr: FileAttr): void {
  target.set([attr.ino, attr.mode, attr.nlink, attr.uid, attr.gid, attr.size, attr.mtimeMs], index * ATTR_FIELDS);
}

/** The core's work for one request; resolves with how to answer it, rejects with the errno's error. */
async function serve(fs: PathFilesystem & InodeFilesystem, request: NativeRequest): Promise<Answer> {
  switch (request.op) {
    case NativeOp.lookup:
      return attrAnswer(await fs.lookupChild(request.ino, request.name ?? ''));
    case NativeOp.getattr:
      return attrAnswer(await fs.attrByIno(request.ino));
    case NativeOp.open: {
      const opened = await fs.openByIno(request.ino, request.flags);
      // No direct_io: the page cache and kernel read-ahead are what make a buffered reader fast.
      return (addon, context, id) => {
        addon.replyOpen(context, id, opened.fh, opened.keepCache, false);
        return 0;
      };
    }
    case NativeOp.read: {
      if (request.target === undefined) throw new Error('read without a buffer');
      const bytes = await fs.read(request.fh, request.target, request.size, request.offset);
      return (addon, context, id) => {
        addon.replyRead(context, id, bytes);
        return bytes;
      };
    }
    case NativeOp.release:
      await fs.release(request.fh);
      return ok;
    case NativeOp.opendir: {
      const [self, entries] = await Promise.all([fs.attrByIno(request.ino), fs.readdirByIno(request.ino)]);
      const names = ['.', '..', ...entries.map((entry) => entry.name)];
      const attrs = new Float64Array(names.length * ATTR_FIELDS);
      putAttr(attrs, 0, self);
      putAttr(attrs, 1, self);
      entries.forEach((entry, index) => putAttr(attrs, index + 2, entry.attr));
      return (addon, context, id) => {
        addon.replyDir(context, id, names, attrs);
        return 0;
      };
    }
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
    case NativeOp.refuse: {
      const op = request.refusedOp ?? '';
      if (!REFUSED_OPS.has(op)) throw new Error(`unknown refused operation ${op}`);
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
  return (op, id, ino, name, fh, offset, size, flags, buffer, refusedOp, slot) => {
    if (op === NativeOp.ended) return options.onEnded();
    if (op === NativeOp.initialized) return options.onInitialized();
    const startNs = process.hrtime.bigint();
    const opName = op === NativeOp.refuse ? (refusedOp ?? 'refuse') : (OP_NAMES.get(op) ?? `op${op}`);
    const report = (errno: number, bytes: number): void => {
      try {
        observer.operationDone({ op: opName, errno, durationSeconds: Number(process.hrtime.bigint() - startNs) / 1e9, bytes });
      } catch (error) {
        logger.debug({ op: opName, err: error }, 'operation observer failed');
      }
    };
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
    const timer = setTimeout(() => {
      timedOut = true;
      if (addon.abandon(options.context(), id, Errno.ETIMEDOUT)) {
        logger.warn({ op: opName, ino, name, timeoutMs: options.operationTimeoutMs }, 'operation timed out: answered ETIMEDOUT');
        report(Errno.ETIMEDOUT, 0);
      }
    }, options.operationTimeoutMs);
    let working: Promise<Answer>;
    try {
      const target = slot >= 0 ? options.slots()[slot]?.subarray(0, size) : buffer;
      working = serve(fs, { op, id, ino, name, fh, offset, size, flags, refusedOp, target });
    } catch (error) {
      working = Promise.reject(error);
    }
    working = working.finally(() => clearTimeout(timer));
    working.then((answer) => {
      if (timedOut) return;
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
