// The machine: page-cache drops and a description for the results.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

/** `sync; echo 3 > /proc/sys/vm/drop_caches`. Returns false when not allowed (not root). */
export function dropCaches() {
  try {
    execFileSync('sync');
    writeFileSync('/proc/sys/vm/drop_caches', '3');
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
