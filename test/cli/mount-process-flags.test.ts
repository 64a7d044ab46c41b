import { describe, expect, it } from 'vitest';
import { mountProcessNodeFlags } from '../../src/cli/daemonize.js';

describe('node flags of a detached mount process', () => {
  it.each([
    { what: 'a 2-CPU machine gets single-threaded GC', execArgv: [], cpus: 2, expected: ['--single-threaded-gc'] },
    { what: 'a 4-CPU machine too', execArgv: ['--enable-source-maps'], cpus: 4, expected: ['--enable-source-maps', '--single-threaded-gc'] },
    { what: 'a larger machine keeps V8 defaults', execArgv: [], cpus: 16, expected: [] },
    { what: 'a GC choice of the user is kept as it is', execArgv: ['--no-single-threaded-gc'], cpus: 2, expected: ['--no-single-threaded-gc'] },
    { what: 'the flag is not given twice', execArgv: ['--single-threaded-gc'], cpus: 2, expected: ['--single-threaded-gc'] },
    { what: 'a profiling flag is passed on', execArgv: ['--cpu-prof'], cpus: 2, expected: ['--cpu-prof', '--single-threaded-gc'] },
  ])('$what', ({ execArgv, cpus, expected }) => {
    expect(mountProcessNodeFlags(execArgv, cpus)).toEqual(expected);
  });
});
