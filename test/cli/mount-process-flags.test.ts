import { describe, expect, it } from 'vitest';
import { MOUNT_SEMI_SPACE_MIB, mountProcessNodeFlags } from '../../src/cli/daemonize.js';

const SEMI = `--max-semi-space-size=${MOUNT_SEMI_SPACE_MIB}`;

describe('node flags of a detached mount process', () => {
  it.each([
    { what: 'a 2-CPU machine gets single-threaded GC', execArgv: [], cpus: 2, expected: ['--single-threaded-gc', SEMI] },
    { what: 'a 4-CPU machine too', execArgv: ['--enable-source-maps'], cpus: 4, expected: ['--enable-source-maps', '--single-threaded-gc', SEMI] },
    { what: 'a larger machine keeps V8\'s GC threads', execArgv: [], cpus: 16, expected: [SEMI] },
    { what: 'a GC choice of the user is kept as it is', execArgv: ['--no-single-threaded-gc'], cpus: 2, expected: ['--no-single-threaded-gc', SEMI] },
    { what: 'the flag is not given twice', execArgv: ['--single-threaded-gc'], cpus: 2, expected: ['--single-threaded-gc', SEMI] },
    { what: 'a profiling flag is passed on', execArgv: ['--cpu-prof'], cpus: 2, expected: ['--cpu-prof', '--single-threaded-gc', SEMI] },
    { what: 'a young-generation size of the user is kept', execArgv: ['--max-semi-space-size=16'], cpus: 16, expected: ['--max-semi-space-size=16'] },
  ])('$what', ({ execArgv, cpus, expected }) => {
    expect(mountProcessNodeFlags(execArgv, cpus)).toEqual(expected);
  });
});
