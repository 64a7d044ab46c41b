// fio through a path: building its command line and reading its JSON report.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/**
 * fio arguments for one read test. `jobs` lists one entry per job: the files it reads (a list is
 * read in turn, file after file). Options that apply to every job come first, as fio wants.
 */
export function fioArgs({ name, rw, blockSizeBytes, direct, jobs, runtimeSeconds, bytesPerFile, invalidate = true }) {
  const args = [
    '--output-format=json',
    '--readonly',
    '--group_reporting',
    '--ioengine=psync',
    `--rw=${rw}`,
    `--bs=${blockSizeBytes}`,
    `--direct=${direct ? 1 : 0}`,
    `--invalidate=${invalidate ? 1 : 0}`,
    // fio's buffer comes from malloc, 16 bytes past a page: on some CPUs the kernel copies page-cache bytes into
    // such a buffer at a third of its speed (bench/copy-distance.mjs), which every buffered row would pay in the
    // reader, whatever the filesystem. Page-aligned, as dd's and O_DIRECT's buffers are.
    '--iomem_align=4096',
  ];
  if (runtimeSeconds !== undefined) args.push('--time_based', `--runtime=${runtimeSeconds}`);
  if (rw === 'randread') args.push('--file_service_type=random', '--randrepeat=0', '--norandommap');
  else args.push('--file_service_type=sequential');
  jobs.forEach((files, index) => {
    // fio separates file names with ':'; our names never contain one. `size` is per job, split over its files.
    args.push(`--name=${name}-${index}`, `--filename=${files.join(':')}`);
    if (bytesPerFile !== undefined) args.push(`--size=${bytesPerFile * files.length}`);
  });
  return args;
}

/**
 * The read side of a group-reported fio JSON report: bytes, seconds, MiB/s, IOPS, mean latency.
 * fio may print warnings before the JSON on stdout, so parsing starts at the first `{`.
 */
export function parseFioJson(text) {
  const start = text.indexOf('{');
  if (start < 0) throw new Error(`fio printed no JSON: ${text.slice(0, 200)}`);
  const report = JSON.parse(text.slice(start));
  const job = report.jobs?.[0];
  if (!job?.read) throw new Error('fio JSON has no jobs[0].read');
  if (job.error) throw new Error(`fio job failed with error ${job.error}`);
  const read = job.read;
  const seconds = read.runtime / 1000;
  return {
    bytes: read.io_bytes,
    seconds,
    mibPerSec: read.bw_bytes / 2 ** 20,
    iops: read.iops,
    meanLatencyMs: (read.lat_ns?.mean ?? 0) / 1e6,
  };
}

export async function runFio(options) {
  const args = fioArgs(options);
  try {
    const { stdout } = await execFileAsync('fio', args, { maxBuffer: 64 * 2 ** 20 });
    return parseFioJson(stdout);
  } catch (error) {
    const detail = error.stderr ? `: ${String(error.stderr).trim().split('\n').slice(-3).join(' | ')}` : '';
    throw new Error(`fio ${options.name} failed${detail || `: ${error.message}`}`);
  }
}

export async function fioVersion() {
  const { stdout } = await execFileAsync('fio', ['--version']);
  return stdout.trim();
}
