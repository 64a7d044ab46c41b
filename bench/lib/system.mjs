// The machine: page-cache drops and a description for the results.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

/**
 * `sync; echo LEVEL > /proc/sys/vm/drop_caches`: 3 drops the page cache and the dentries and inodes, 2 only the
 * dentries and inodes (so the kernel forgets a FUSE mount's inodes). Returns false when not allowed (not root).
 */
export function dropCaches(level = 3) {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', String(level));
    return true;
  } catch {
    return false;
  }
}

const run = (command, args) => {
  try {
    return execFileSync(command, args).toString().trim();
  } catch {
    return 'unknown';
  }
};

export function machineInfo(fio) {
  return {
    nproc: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    ramGiB: Number((totalmem() / 2 ** 30).toFixed(1)),
    kernel: run('uname', ['-r']),
    node: process.version,
    fio,
    libfuse: `libfuse ${run('pkg-config', ['--modversion', 'fuse3'])} (native engine), libfuse 2 (fuse-native 2.2.6)`,
    loadAverage: loadavg().map((value) => Number(value.toFixed(2))),
  };
}
