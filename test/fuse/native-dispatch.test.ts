import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Errno } from '../../src/fs/errno.js';
import type { InodeFilesystem, OpenResult, PathFilesystem } from '../../src/fs/types.js';
import { NativeOp, type NativeAddon, type NativeContext } from '../../src/fuse/native-addon.js';
import { createNativeDispatch } from '../../src/fuse/native-dispatch.js';

/*
 * The JS side of native requests, with the addon replaced by a model of its exactly-once rule: a
 * request can be answered once (a reply or `abandon`); any later reply returns false.
 */
const TIMEOUT_MS = 1_000;
const context = {} as NativeContext;

function fakeAddon() {
  const unanswered = new Set<number>();
  const take = (id: number): boolean => unanswered.delete(id);
  const addon = {
    abandon: vi.fn((_context: NativeContext, id: number, _errno: number) => take(id)),
    replyOpen: vi.fn((_context: NativeContext, id: number) => take(id)),
    replyError: vi.fn((_context: NativeContext, id: number) => take(id)),
  };
  return { addon, asAddon: addon as unknown as NativeAddon, received: (id: number) => unanswered.add(id), stopAll: () => unanswered.clear() };
}

/** A core whose opens resolve when the test says so. */
function slowOpenCore() {
  let finishOpen: (result: OpenResult) => void = () => {};
  const core = {
    openByIno: vi.fn(() => new Promise<OpenResult>((resolve) => (finishOpen = resolve))),
    release: vi.fn(async (_fh: number) => {}),
  };
  return { core, asCore: core as unknown as PathFilesystem & InodeFilesystem, finishOpen: (result: OpenResult) => finishOpen(result) };
}

function dispatcherFor(addon: NativeAddon, fs: PathFilesystem & InodeFilesystem) {
  return createNativeDispatch({
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
}

const open = (dispatch: ReturnType<typeof createNativeDispatch>, id: number, ino: number): void =>
  dispatch(NativeOp.open, id, ino, undefined, 0, 0, 0, 0, undefined, undefined, -1, 0, 0, undefined);

/** Lets the core's promise callbacks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
};

describe('native dispatch: opens answered too late', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('releases the handle of an open the core finished after the kernel got ETIMEDOUT', async () => {
    const { addon, asAddon, received } = fakeAddon();
    const { core, asCore, finishOpen } = slowOpenCore();
    const dispatch = dispatcherFor(asAddon, asCore);
    received(1);
    open(dispatch, 1, 42);
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(addon.abandon).toHaveBeenCalledWith(context, 1, Errno.ETIMEDOUT);

    finishOpen({ fh: 7, keepCache: false });
    await settle();
    expect(addon.replyOpen).toHaveReturnedWith(false);
    expect(core.release).toHaveBeenCalledWith(7);
  });

  it('releases the handle of an open the teardown answered while the core worked', async () => {
    const { asAddon, received, stopAll } = fakeAddon();
    const { core, asCore, finishOpen } = slowOpenCore();
    const dispatch = dispatcherFor(asAddon, asCore);
    received(2);
    open(dispatch, 2, 42);
    stopAll();
    finishOpen({ fh: 8, keepCache: true });
    await settle();
    expect(core.release).toHaveBeenCalledWith(8);
  });

  it('keeps the handle of an open answered in time: the kernel releases it', async () => {
    const { addon, asAddon, received } = fakeAddon();
    const { core, asCore, finishOpen } = slowOpenCore();
    const dispatch = dispatcherFor(asAddon, asCore);
    received(3);
    open(dispatch, 3, 42);
    finishOpen({ fh: 9, keepCache: false });
    await settle();
    expect(addon.replyOpen).toHaveBeenCalledWith(context, 3, 9, false, false, false);
    expect(addon.replyOpen).toHaveReturnedWith(true);
    vi.advanceTimersByTime(TIMEOUT_MS);
    expect(addon.abandon).not.toHaveBeenCalled();
    expect(core.release).not.toHaveBeenCalled();
  });
});

describe('native dispatch: FORGET', () => {
  it('drops the counts of a FORGET and of each pair of a BATCH_FORGET and answers before any promise runs, counted as forgets', () => {
    const { addon, asAddon, received } = fakeAddon();
    const core = { forget: vi.fn((_ino: number, _count: number) => {}) };
    const done: { op: string; errno: number }[] = [];
    const dispatch = createNativeDispatch({
      fs: core as unknown as PathFilesystem & InodeFilesystem,
      addon: asAddon,
      context: () => context,
      slots: () => [],
      logger: pino({ level: 'silent' }),
      observer: { operationDone: ({ op, errno }) => void done.push({ op, errno }) },
      operationTimeoutMs: TIMEOUT_MS,
      onInitialized: () => {},
      onEnded: () => {},
    });
    received(1);
    received(2);
    dispatch(NativeOp.forget, 1, 42, undefined, 0, 0, 3, 0, undefined, undefined, -1, 0, 0, undefined);
    const pairs = Buffer.alloc(32);
    [7, 1, 8, 2].forEach((value, index) => pairs.writeDoubleLE(value, index * 8));
    dispatch(NativeOp.forget, 2, 0, undefined, 0, 0, 0, 0, pairs, undefined, -1, 0, 0, undefined);
    // No await: both were answered within the call.
    expect(core.forget.mock.calls).toEqual([
      [42, 3],
      [7, 1],
      [8, 2],
    ]);
    expect(addon.replyError.mock.calls).toEqual([
      [context, 1, 0],
      [context, 2, 0],
    ]);
    expect(done).toEqual([
      { op: 'forget', errno: 0 },
      { op: 'forget', errno: 0 },
    ]);
  });
});
