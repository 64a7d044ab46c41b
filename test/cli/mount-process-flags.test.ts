import { describe, expect, it } from 'vitest';
import { MOUNT_SEMI_SPACE_MIB, MOUNT_WASM_FLAG, mountProcessNodeFlags } from '../../src/cli/daemonize.js';
import { DEFAULT_LIST_PAGE_SIZE } from '../../src/fs/readdir.js';
import { parseListResponse } from '../../src/store/list-request.js';
import { heapBytesPerEntry } from '../helpers/heap.js';

const MiB = 1024 * 1024;

const SEMI = `--max-semi-space-size=${MOUNT_SEMI_SPACE_MIB}`;
const WASM = MOUNT_WASM_FLAG;

describe('node flags of a detached mount process', () => {
  it.each([
    { what: 'a 2-CPU machine gets single-threaded GC', execArgv: [], cpus: 2, expected: ['--single-threaded-gc', SEMI, WASM] },
    { what: 'a 4-CPU machine too', execArgv: ['--enable-source-maps'], cpus: 4, expected: ['--enable-source-maps', '--single-threaded-gc', SEMI, WASM] },
    { what: 'a larger machine keeps V8\'s GC threads', execArgv: [], cpus: 16, expected: [SEMI, WASM] },
    { what: 'a GC choice of the user is kept as it is', execArgv: ['--no-single-threaded-gc'], cpus: 2, expected: ['--no-single-threaded-gc', SEMI, WASM] },
    { what: 'the flag is not given twice', execArgv: ['--single-threaded-gc'], cpus: 2, expected: ['--single-threaded-gc', SEMI, WASM] },
    { what: 'a profiling flag is passed on', execArgv: ['--cpu-prof'], cpus: 2, expected: ['--cpu-prof', '--single-threaded-gc', SEMI, WASM] },
    { what: 'a young-generation size of the user is kept', execArgv: ['--max-semi-space-size=16'], cpus: 16, expected: ['--max-semi-space-size=16', WASM] },
    { what: 'a WebAssembly compiler choice of the user is kept', execArgv: ['--no-liftoff'], cpus: 16, expected: ['--no-liftoff', SEMI] },
  ])('$what', ({ execArgv, cpus, expected }) => {
    expect(mountProcessNodeFlags(execArgv, cpus)).toEqual(expected);
  });
});

describe('the young generation of a mount process', () => {
  it('holds a whole listing page of the default size as it is parsed and taken apart, so that a page dies young', () => {
    const names = Array.from({ length: DEFAULT_LIST_PAGE_SIZE }, (_, index) => `tree-1000x1000/d-0123/f-${String(index).padStart(6, '0')}.bin`);
    const entries = names.map((name) => ({ name, flags: 64, size: '0', version: '1', atime: '2026-12-01T09:59:12.123456789Z' }));
    const text = JSON.stringify({ uuid: 'u', continuation_token: names[names.length - 1], entries, flags: 0 });
    // Alive together while a page is taken apart: what JSON.parse made of it and the entries read from that.
    const { bytesPerEntry, kept } = heapBytesPerEntry(names.length, () => {
      const raw: unknown = JSON.parse(text);
      return { raw, page: parseListResponse(text) };
    });
    expect(kept.page.entries).toHaveLength(names.length);
    expect(bytesPerEntry * names.length).toBeLessThan(MOUNT_SEMI_SPACE_MIB * MiB);
  });
});
