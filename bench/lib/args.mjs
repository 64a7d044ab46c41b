// Command-line flags of bench/run.mjs.

export const USAGE = `usage: npm run bench -- [--quick] [--out FILE] [--dir DIR] [--mount-args "ARGS"]
  --quick            smaller, shorter run (about 2 minutes)
  --out FILE         where to write the JSON results (default bench/out/results.json)
  --dir DIR          working folder: data, mountpoint, manifest (default /var/tmp/bucketfs-bench)
  --mount-args ARGS  extra flags for \`bucketfs mount\`, space-separated (e.g. "--log-level info")
  --engines LIST     FUSE engines to measure side by side, comma-separated (default native,fuse-native)
  --profile          run the mount under node --cpu-prof; profiles in bench/out/profiles, top functions printed`;

export class UsageError extends Error {}

/** The value after `--name` in `args`, else `fallback`: for the small scripts beside run.mjs. Pure. */
export function optionValue(args, name, fallback) {
  const index = args.indexOf(name);
  return index >= 0 && args[index + 1] !== undefined ? args[index + 1] : fallback;
}

/** Calls `onFlag(arg, value)` for each argument; `value()` takes the one after it (a UsageError when there is none). */
export function eachFlag(argv, onFlag) {
  for (let index = 0; index < argv.length; index += 1) {
    const arg = argv[index];
    onFlag(arg, () => {
      const next = argv[index + 1];
      if (next === undefined) throw new UsageError(`${arg} needs a value`);
      index += 1;
      return next;
    });
  }
}

/**
 * A bench's options from this process's argv: a usage error prints its message and `usage` and exits 2; `--help`
 * prints `usage` (through `sayHelp`) and exits 0.
 */
export function commandOptions(name, usage, parse, say, sayHelp = say) {
  let options;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    say(`${name}: ${error.message}\n${usage}`);
    process.exit(2);
  }
  if (options.help) {
    sayHelp(usage);
    process.exit(0);
  }
  return options;
}

/** Pure: argv (without node and script) → options. */
export function parseArgs(argv) {
  const options = { quick: false, out: undefined, dir: '/var/tmp/bucketfs-bench', mountArgs: [], engines: ['native', 'fuse-native'], profile: false, help: false };
  eachFlag(argv, (arg, value) => {
    if (arg === '--quick') options.quick = true;
    else if (arg === '--out') options.out = value();
    else if (arg === '--dir') options.dir = value();
    else if (arg === '--mount-args') options.mountArgs = value().split(/\s+/).filter(Boolean);
    else if (arg === '--engines' || arg === '--engine') options.engines = value().split(',').map((name) => name.trim()).filter(Boolean);
    else if (arg === '--profile') options.profile = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else throw new UsageError(`unknown flag ${arg}`);
  });
  const unknown = options.engines.filter((name) => name !== 'native' && name !== 'fuse-native');
  if (unknown.length > 0 || options.engines.length === 0) throw new UsageError(`--engines: expected native and/or fuse-native, got ${unknown.join(',') || 'nothing'}`);
  return options;
}

/** Sizes and durations of one run; the dataset is the same for both, so a quick run reuses a full run's files. */
export function planFor(quick) {
  return {
    largeFiles: 4,
    largeFileBytes: 256 * 2 ** 20,
    smallFiles: 10_000,
    // One stream reads one file in a quick run, all four (1 GiB) in turn in a full run.
    seqOneStreamFiles: quick ? 1 : 4,
    // How much of each large file the sequential tests read (from its start).
    seqBytesPerFile: (quick ? 128 : 256) * 2 ** 20,
    randomRuntimeSeconds: quick ? 2 : 12,
    warmRuntimeSeconds: quick ? 2 : 5,
    randomJobs: 4,
    smallReadFiles: quick ? 2_000 : 10_000,
    smallReadConcurrency: 4,
    firstByteFiles: quick ? 30 : 200,
    rangeStreams: 4,
    rangeBytes: 8 * 2 ** 20,
    // Pairs of (raw limit, mount run) per sequential row, back to back; the pair with the median ratio is reported.
    // On 2 shared CPUs one run of these rows moved by up to ±40 % from run to run.
    sequentialRepeats: quick ? 1 : 3,
  };
}
