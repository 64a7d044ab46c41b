import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { DirEntry, DirStream, FileAttr, InodeFilesystem, PathFilesystem } from '../../src/fs/types.js';
import { NativeOp, type NativeAddon, type NativeContext } from '../../src/fuse/native-addon.js';
import { createNativeDispatch } from '../../src/fuse/native-dispatch.js';

/*
 * The JS side of the engine's directory batches, with the addon and the core replaced by models: which
 * positions of the folder's stream are read when, and which entry numbers stay held once a folder is closed.
 */
const context = {} as NativeContext;
const DIR_INO = 7;
const FIRST_CHILD_INO = 100;

const attrOf = (ino: number, kind: 'file' | 'dir'): FileAttr => ({ ino, kind, size: 0, mtimeMs: 0, mode: kind === 'file' ? 0o100444 : 0o40555, uid: 0, gid: 0, nlink: 1 });

/** A folder of `size` files whose stream records each read, and a count of the numbers held per ino. */
function folderCore(size: number) {
  const reads: number[] = [];
  const held = new Map<number, number>();
  const stream: DirStream = {
    kernelMayKeep: false,
    read: async (position: number, max: number): Promise<DirEntry[]> => {
      reads.push(position);
      const entries: DirEntry[] = [];
      for (let index = position; index < Math.min(size, position + max); index += 1) entries.push({ name: `f-${index}`, attr: attrOf(FIRST_CHILD_INO + index, 'file') });
      return entries;
    },
    close: vi.fn(),
  };
  const core = {
    attrByIno: async () => attrOf(DIR_INO, 'dir'),
    openDirByIno: async () => stream,
    holdIno: (ino: number) => held.set(ino, (held.get(ino) ?? 0) + 1),
    settleIno: (ino: number) => {
      const count = (held.get(ino) ?? 0) - 1;
      if (count === 0) held.delete(ino);
      else held.set(ino, count);
    },
  };
  return { reads, held, stream, asCore: core as unknown as PathFilesystem & InodeFilesystem };
}

/** An addon that keeps the answers: the handle of an opendir, the entry count of each readdir. */
function recordingAddon() {
  const answers = new Map<number, (value: number) => void>();
  const answer = (id: number, value: number): boolean => {
    answers.get(id)?.(value);
    answers.delete(id);
    return true;
  };
  const addon = {
    replyOpen: (_context: NativeContext, id: number, fh: number) => answer(id, fh),
    replyDir: (_context: NativeContext, id: number, _names: string, count: number) => answer(id, count),
    replyError: (_context: NativeContext, id: number, errno: number) => answer(id, -errno),
    offerOpens: () => 0,
  };
  let nextId = 1;
  const ask = (dispatch: ReturnType<typeof createNativeDispatch>, op: number, fh: number, offset: number, target?: Buffer): Promise<number> => {
    const id = nextId++;
    const answered = new Promise<number>((resolve) => answers.set(id, resolve));
    dispatch(op, id, DIR_INO, undefined, fh, offset, 0, 0, target, undefined, -1, 0, 0, undefined);
    return answered;
  };
  return { asAddon: addon as unknown as NativeAddon, ask };
}

function dispatcherFor(addon: NativeAddon, fs: PathFilesystem & InodeFilesystem) {
  return createNativeDispatch({
    fs,
    addon,
    context: () => context,
    slots: () => [],
    logger: pino({ level: 'silent' }),
    observer: { operationDone: () => {} },
    operationTimeoutMs: 5_000,
    onInitialized: () => {},
    onEnded: () => {},
  });
}

/** Lets the promise callbacks already queued run. */
const drain = async (): Promise<void> => {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
};

describe('native dispatch: directory batches', () => {
  it('makes the next batch while the engine serves the one it was handed', async () => {
    const folder = folderCore(3000);
    const { asAddon, ask } = recordingAddon();
    const dispatch = dispatcherFor(asAddon, folder.asCore);
    const fh = await ask(dispatch, NativeOp.opendir, 0, 0);
    const first = await ask(dispatch, NativeOp.readdir, fh, 0);
    await drain();
    // The dots take offsets 0 and 1: the stream's position `first - 2` is where the next batch starts.
    expect(folder.reads).toEqual([0, first - 2]);
    const second = await ask(dispatch, NativeOp.readdir, fh, first, Buffer.alloc(4 * first));
    expect(second).toBeGreaterThan(0);
    await drain();
    // The second batch came from what was made ahead, and the third is under way.
    expect(folder.reads).toEqual([0, first - 2, first + second - 2]);
  });

  it('holds no entry number once the folder is closed, the batch made ahead included', async () => {
    const folder = folderCore(3000);
    const { asAddon, ask } = recordingAddon();
    const dispatch = dispatcherFor(asAddon, folder.asCore);
    const fh = await ask(dispatch, NativeOp.opendir, 0, 0);
    const first = await ask(dispatch, NativeOp.readdir, fh, 0);
    await drain();
    expect(folder.held.size).toBeGreaterThan(first);
    await ask(dispatch, NativeOp.releasedir, fh, 0, Buffer.alloc(4 * first));
    await drain();
    expect(folder.held.size).toBe(0);
    expect(folder.stream.close).toHaveBeenCalledTimes(1);
  });

  it('gives back the batch made ahead when the kernel asks for another offset, and serves that one', async () => {
    const folder = folderCore(3000);
    const { asAddon, ask } = recordingAddon();
    const dispatch = dispatcherFor(asAddon, folder.asCore);
    const fh = await ask(dispatch, NativeOp.opendir, 0, 0);
    const first = await ask(dispatch, NativeOp.readdir, fh, 0);
    await drain();
    // rewinddir: the kernel asks for offset 0 again.
    const again = await ask(dispatch, NativeOp.readdir, fh, 0, Buffer.alloc(4 * first));
    expect(again).toBe(first);
    await drain();
    expect(folder.reads).toEqual([0, first - 2, 0, first - 2]);
    // Only the batch handed out and the one made ahead of it are held.
    expect(folder.held.size).toBe(2 * first - 2);
    await ask(dispatch, NativeOp.releasedir, fh, 0, Buffer.alloc(4 * first));
    await drain();
    expect(folder.held.size).toBe(0);
  });

  it('makes nothing ahead past the end of a folder', async () => {
    const folder = folderCore(5);
    const { asAddon, ask } = recordingAddon();
    const dispatch = dispatcherFor(asAddon, folder.asCore);
    const fh = await ask(dispatch, NativeOp.opendir, 0, 0);
    expect(await ask(dispatch, NativeOp.readdir, fh, 0)).toBe(7);
    await drain();
    expect(await ask(dispatch, NativeOp.readdir, fh, 7, Buffer.alloc(4 * 7))).toBe(0);
    await drain();
    expect(folder.reads).toEqual([0, 5]);
    await ask(dispatch, NativeOp.releasedir, fh, 0);
    await drain();
    expect(folder.held.size).toBe(0);
  });
});
