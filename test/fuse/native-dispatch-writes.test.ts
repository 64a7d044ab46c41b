import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Errno, FsError } from '../../src/fs/errno.js';
import { RENAME_EXCHANGE, RENAME_NOREPLACE, type CreateResult, type FileAttr, type InodeFilesystem, type PathFilesystem } from '../../src/fs/types.js';
import { NativeOp, SETATTR_FIELDS, SETATTR_WITH_FH, WRITE_REPORT_NUMBERS, type NativeAddon, type NativeContext } from '../../src/fuse/native-addon.js';
import { createNativeDispatch } from '../../src/fuse/native-dispatch.js';
import { STAT_NUMBERS } from '../../src/fuse/stat.js';

/*
 * The write requests of the native engine, JS side: the addon is a model of its exactly-once rule
 * (a request is answered once; a later reply returns false), the core a set of fakes.
 */
const TIMEOUT_MS = 1_000;
const context = {} as NativeContext;
const FILE: FileAttr = { ino: 57, kind: 'file', size: 0, mtimeMs: 1_700_000_000_000, mode: 0o100644, uid: 1, gid: 2, nlink: 1 };
const DIR: FileAttr = { ino: 58, kind: 'dir', size: 0, mtimeMs: 1_700_000_000_000, mode: 0o040755, uid: 1, gid: 2, nlink: 2 };

function fakeAddon() {
  const unanswered = new Set<number>();
  const take = (id: number): boolean => unanswered.delete(id);
  const addon = {
    abandon: vi.fn((_c: NativeContext, id: number, _errno: number) => take(id)),
    replyError: vi.fn((_c: NativeContext, id: number, _errno: number) => take(id)),
    replyAttr: vi.fn((_c: NativeContext, id: number, _attr: Float64Array) => take(id)),
    replyWrite: vi.fn((_c: NativeContext, id: number, _bytes: number) => take(id)),
    replyCreate: vi.fn((_c: NativeContext, id: number, _fh: number, _attr: Float64Array, _keep: boolean, _stagedFd?: number, _writableEnd?: number) => take(id)),
    stagedWriteEnd: vi.fn((_c: NativeContext, _fh: number, _writableEnd: number) => {}),
    stagedWriteDrop: vi.fn((_c: NativeContext, _fh: number) => {}),
  };
  return { addon, asAddon: addon as unknown as NativeAddon, received: (id: number) => unanswered.add(id), stopAll: () => unanswered.clear() };
}

/** A core whose write operations resolve at once unless a test replaces them. */
function fakeCore() {
  const core = {
    createChild: vi.fn(async (_parent: number, _name: string, _mode: number, _flags: number): Promise<CreateResult> => ({ fh: 9, attr: FILE })),
    write: vi.fn(async (_fh: number, data: Buffer, _position: number) => data.length),
    flush: vi.fn(async (_fh: number) => {}),
    fsync: vi.fn(async (_fh: number) => {}),
    mkdirChild: vi.fn(async (_parent: number, _name: string, _mode: number) => DIR),
    rmdirChild: vi.fn(async (_parent: number, _name: string) => {}),
    renameChild: vi.fn(async (_parent: number, _name: string, _newParent: number, _newName: string, _flags: number) => {}),
    setattrByIno: vi.fn(async (_ino: number, _changes: object, _fh?: number) => FILE),
    refuseWrite: vi.fn(async (op: string, path: string): Promise<never> => {
      throw new FsError(Errno.ENOTSUP, `${op} ${path}: not supported`);
    }),
    forget: vi.fn((_ino: number, _count: number) => {}),
    release: vi.fn(async (_fh: number) => {}),
    engineWrote: vi.fn((_fh: number, _position: number, _bytes: number, _errno: number) => {}),
    engineWritableEnd: vi.fn((_fh: number): number | undefined => 64),
  };
  return { core, asCore: core as unknown as PathFilesystem & InodeFilesystem };
}

interface Call {
  op: number;
  id: number;
  ino?: number;
  name?: string;
  fh?: number;
  offset?: number;
  size?: number;
  flags?: number;
  buffer?: Buffer;
  refusedOp?: string;
  mode?: number;
  newParent?: number;
  newName?: string;
}

function dispatcher(addon: NativeAddon, fs: PathFilesystem & InodeFilesystem) {
  const dispatch = createNativeDispatch({
    fs,
    addon,
    context: () => context,
    slots: () => [],
    logger: pino({ level: 'silent' }),
    observer: { operationDone: () => {} },
    operationTimeoutMs: TIMEOUT_MS,
    onInitialized: () => {},
    onEnded: () => {},
  });
  return (c: Call): void =>
    dispatch(c.op, c.id, c.ino ?? 1, c.name, c.fh ?? 0, c.offset ?? 0, c.size ?? 0, c.flags ?? 0, c.buffer, c.refusedOp, -1, c.mode ?? 0, c.newParent ?? 0, c.newName);
}

/** Lets the core's promise callbacks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i += 1) await Promise.resolve();
};

function setattrFields(values: Partial<Record<'size' | 'mode' | 'uid' | 'gid' | 'atimeMs' | 'mtimeMs', number>>): Buffer {
  const fields = Buffer.alloc(SETATTR_FIELDS * 8);
  (['size', 'mode', 'uid', 'gid', 'atimeMs', 'mtimeMs'] as const).forEach((key, index) => fields.writeDoubleLE(values[key] ?? Number.NaN, index * 8));
  return fields;
}

function setup() {
  const addon = fakeAddon();
  const core = fakeCore();
  const send = dispatcher(addon.asAddon, core.asCore);
  /** A call that is no request (a marker with its buffer). */
  const dispatch = (op: number, buffer: Buffer): void => send({ op, id: 0, buffer });
  return { ...addon, ...core, dispatch, send: (c: Call) => (addon.received(c.id), send(c)) };
}

describe('native dispatch: write requests', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('creates a file and answers its entry and handle together, without keep_cache', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.create, id: 1, ino: 5, name: 'ckpt.pt', mode: 0o100644, flags: 0o101 });
    await settle();
    expect(core.createChild).toHaveBeenCalledWith(5, 'ckpt.pt', 0o100644, 0o101, { engineWritesStaged: true });
    expect(addon.replyCreate).toHaveBeenCalledTimes(1);
    const [, id, fh, attr, keepCache] = addon.replyCreate.mock.calls[0]!;
    expect([id, fh, keepCache]).toEqual([1, 9, false]);
    expect(attr).toHaveLength(STAT_NUMBERS);
    expect(attr[0]).toBe(FILE.ino);
    expect(core.forget).not.toHaveBeenCalled();
    expect(core.release).not.toHaveBeenCalled();
  });

  it('hands the engine a created file\'s staging file, applies its write reports before a later flush, and drops the file at release', async () => {
    const { core, addon, send, dispatch } = setup();
    core.createChild.mockResolvedValueOnce({ fh: 9, attr: FILE, staged: { fd: 33, writableEnd: 16 } });
    send({ op: NativeOp.create, id: 1, ino: 5, name: 'big', mode: 0o100644, flags: 0o101 });
    await settle();
    expect(addon.replyCreate.mock.calls[0]!.slice(5)).toEqual([33, 16]);
    const order: string[] = [];
    core.engineWrote.mockImplementation((fh, position, bytes, errno) => void order.push(`wrote ${fh} ${position} ${bytes} ${errno}`));
    core.flush.mockImplementation(async (fh) => void order.push(`flush ${fh}`));
    const reports = Buffer.alloc(2 * WRITE_REPORT_NUMBERS * 8);
    [9, 0, 8, 0, 0.001, 9, 8, 4, Errno.ENOSPC, 0.001].forEach((value, index) => reports.writeDoubleLE(value, index * 8));
    dispatch(NativeOp.writesReported, reports);
    send({ op: NativeOp.flush, id: 2, fh: 9 });
    await settle();
    expect(order).toEqual(['wrote 9 0 8 0', `wrote 9 8 4 ${Errno.ENOSPC}`, 'flush 9']);
    // The room moves ahead of what was written, once per batch.
    expect(addon.stagedWriteEnd).toHaveBeenCalledTimes(1);
    expect(addon.stagedWriteEnd).toHaveBeenCalledWith(context, 9, 64);
    send({ op: NativeOp.release, id: 3, fh: 9 });
    await settle();
    expect(addon.stagedWriteDrop).toHaveBeenCalledWith(context, 9);
    expect(core.release).toHaveBeenCalledWith(9);
  });

  it('a write of a staged file that still reached the core sets more room aside for the engine', async () => {
    const { core, addon, send } = setup();
    core.createChild.mockResolvedValueOnce({ fh: 9, attr: FILE, staged: { fd: 33, writableEnd: 16 } });
    send({ op: NativeOp.create, id: 1, ino: 5, name: 'big', mode: 0o100644, flags: 0o101 });
    await settle();
    send({ op: NativeOp.write, id: 2, fh: 9, offset: 16, size: 4, buffer: Buffer.alloc(4) });
    await settle();
    expect(addon.stagedWriteEnd).toHaveBeenCalledWith(context, 9, 64);
    expect(addon.stagedWriteEnd.mock.invocationCallOrder[0]).toBeLessThan(addon.replyWrite.mock.invocationCallOrder[0]!);
  });

  it('gives back the lookup and the handle of a create the kernel got ETIMEDOUT for', async () => {
    const { core, addon, send } = setup();
    let finish: (result: CreateResult) => void = () => {};
    core.createChild.mockImplementation(() => new Promise<CreateResult>((resolve) => (finish = resolve)));
    send({ op: NativeOp.create, id: 2, ino: 5, name: 'late', mode: 0o100644, flags: 0o101 });
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(addon.abandon).toHaveBeenCalledWith(context, 2, Errno.ETIMEDOUT);
    finish({ fh: 11, attr: FILE });
    await settle();
    expect(addon.replyCreate).toHaveReturnedWith(false);
    expect(core.forget).toHaveBeenCalledWith(FILE.ino, 1);
    expect(core.release).toHaveBeenCalledWith(11);
  });

  it('hands a write its bytes and offset and answers the count taken', async () => {
    const { core, addon, send } = setup();
    const bytes = Buffer.from('checkpoint bytes');
    send({ op: NativeOp.write, id: 3, ino: 57, fh: 9, offset: 4096, size: bytes.length, buffer: bytes });
    await settle();
    expect(core.write).toHaveBeenCalledWith(9, bytes, 4096);
    expect(addon.replyWrite).toHaveBeenCalledWith(context, 3, bytes.length);
  });

  it('answers flush and fsync with the upload result', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.flush, id: 4, fh: 9 });
    send({ op: NativeOp.fsync, id: 5, fh: 9, flags: 1 });
    await settle();
    expect(core.flush).toHaveBeenCalledWith(9);
    expect(core.fsync).toHaveBeenCalledWith(9);
    expect(addon.replyError).toHaveBeenCalledWith(context, 4, 0);
    expect(addon.replyError).toHaveBeenCalledWith(context, 5, 0);

    core.flush.mockRejectedValueOnce(new FsError(Errno.EIO, 'upload failed'));
    send({ op: NativeOp.flush, id: 6, fh: 9 });
    await settle();
    expect(addon.replyError).toHaveBeenCalledWith(context, 6, Errno.EIO);
  });

  it('answers mkdir with an entry, and gives its lookup back when the answer came too late', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.mkdir, id: 7, ino: 1, name: 'runs', mode: 0o755 });
    await settle();
    expect(core.mkdirChild).toHaveBeenCalledWith(1, 'runs', 0o755);
    expect(addon.replyAttr).toHaveReturnedWith(true);
    expect(core.forget).not.toHaveBeenCalled();

    let finish: (attr: FileAttr) => void = () => {};
    core.mkdirChild.mockImplementation(() => new Promise<FileAttr>((resolve) => (finish = resolve)));
    send({ op: NativeOp.mkdir, id: 8, ino: 1, name: 'late', mode: 0o755 });
    vi.advanceTimersByTime(TIMEOUT_MS);
    finish(DIR);
    await settle();
    expect(core.forget).toHaveBeenCalledWith(DIR.ino, 1);
  });

  it('lets a flush wait for its upload past the failsafe timeout, where a write gets ETIMEDOUT', async () => {
    const { core, addon, send } = setup();
    let landed: () => void = () => {};
    core.flush.mockImplementation(() => new Promise<void>((resolve) => (landed = resolve)));
    core.write.mockImplementation(() => new Promise<number>(() => {}));
    send({ op: NativeOp.flush, id: 20, fh: 9 });
    send({ op: NativeOp.write, id: 21, fh: 9, size: 1, buffer: Buffer.from('x') });
    vi.advanceTimersByTime(TIMEOUT_MS * 3);
    expect(addon.abandon.mock.calls).toEqual([[context, 21, Errno.ETIMEDOUT]]);
    landed();
    await settle();
    expect(addon.replyError).toHaveBeenCalledWith(context, 20, 0);
    expect(addon.replyError).toHaveReturnedWith(true);
  });

  it('passes rmdir and rename (with RENAME_NOREPLACE) to the core', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.rmdir, id: 9, ino: 1, name: 'empty' });
    send({ op: NativeOp.rename, id: 10, ino: 1, name: 'a.tmp', newParent: 58, newName: 'a', flags: RENAME_NOREPLACE });
    await settle();
    expect(core.rmdirChild).toHaveBeenCalledWith(1, 'empty');
    expect(core.renameChild).toHaveBeenCalledWith(1, 'a.tmp', 58, 'a', RENAME_NOREPLACE);
    expect(addon.replyError).toHaveBeenCalledWith(context, 9, 0);
    expect(addon.replyError).toHaveBeenCalledWith(context, 10, 0);
  });

  it('refuses RENAME_EXCHANGE and unknown rename flags with EINVAL, without asking the core', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.rename, id: 11, ino: 1, name: 'a', newParent: 1, newName: 'b', flags: RENAME_EXCHANGE });
    send({ op: NativeOp.rename, id: 12, ino: 1, name: 'a', newParent: 1, newName: 'b', flags: 4 });
    await settle();
    expect(core.renameChild).not.toHaveBeenCalled();
    expect(addon.replyError).toHaveBeenCalledWith(context, 11, Errno.EINVAL);
    expect(addon.replyError).toHaveBeenCalledWith(context, 12, Errno.EINVAL);
  });

  it('turns setattr fields into changes: only those set, the handle only when the kernel named one', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.setattr, id: 13, ino: 57, fh: 9, flags: SETATTR_WITH_FH, buffer: setattrFields({ size: 0 }) });
    send({ op: NativeOp.setattr, id: 14, ino: 57, fh: 0, flags: 0, buffer: setattrFields({ mode: 0o100600, atimeMs: 1_000, mtimeMs: 2_000 }) });
    send({ op: NativeOp.setattr, id: 15, ino: 57, buffer: setattrFields({ uid: 1000, gid: 0 }) });
    await settle();
    expect(core.setattrByIno).toHaveBeenNthCalledWith(1, 57, { size: 0 }, 9);
    expect(core.setattrByIno).toHaveBeenNthCalledWith(2, 57, { mode: 0o100600, atimeMs: 1_000, mtimeMs: 2_000 }, undefined);
    expect(core.setattrByIno).toHaveBeenNthCalledWith(3, 57, { uid: 1000, gid: 0 }, undefined);
    expect(addon.replyAttr).toHaveBeenCalledTimes(3);
  });

  it('answers symlink, link and special files with the core refusal', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.refuse, id: 16, ino: 1, name: 'l', refusedOp: 'symlink' });
    send({ op: NativeOp.refuse, id: 17, ino: 1, name: 'h', refusedOp: 'link' });
    send({ op: NativeOp.refuse, id: 18, ino: 1, name: 'fifo', refusedOp: 'mknod' });
    await settle();
    expect(core.refuseWrite.mock.calls).toEqual([
      ['symlink', '/l'],
      ['link', '/h'],
      ['create', '/fifo'],
    ]);
    for (const id of [16, 17, 18]) expect(addon.replyError).toHaveBeenCalledWith(context, id, Errno.ENOTSUP);
  });

  it('no longer takes the old refusals for operations that are now real', async () => {
    const { core, addon, send } = setup();
    send({ op: NativeOp.refuse, id: 19, ino: 1, name: 'x', refusedOp: 'mkdir' });
    await settle();
    expect(core.refuseWrite).not.toHaveBeenCalled();
    expect(addon.replyError).toHaveBeenCalledWith(context, 19, Errno.EIO);
  });
});
