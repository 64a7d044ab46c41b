// Command-line flags of bench/scale.mjs.
import { eachFlag, UsageError } from './args.mjs';

export const SCALE_USAGE = `usage: npm run bench:scale -- [--quick] [--objects-flat N] [--tree-folders N --tree-per-folder N] [...]
  --quick              small sizes (a flat folder of 10,000 objects, a tree of 100 × 1,000) to check the bench fast
  --objects-flat N     objects in the flat folder (default 100000)
  --tree-folders N     folders in the tree (default 1000)
  --tree-per-folder N  objects in each folder of the tree (default 1000)
  --only LIST          parts to run, comma-separated: flat, tree, memory (default all)
  --forget-ttl D       --metadata-ttl of the mount of the memory-after-forget row (default 5s)
  --engine E           FUSE engine of the mounts: native (default) or fuse-native
  --mount-args ARGS    extra flags for every \`bucketfs mount\`, space-separated
  --dir DIR            working folder: data, markers, mountpoint (default .bench-data/scale in the repository)
  --out FILE           JSON results (default bench/out/scale.json; the Markdown block beside it, .md)
  --profile            run the mounts under node --cpu-prof; profiles in bench/out/scale/profiles, top functions printed`;

const PARTS = ['flat', 'tree', 'memory'];

function positiveInteger(flag, text) {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) throw new UsageError(`${flag}: expected a positive whole number, got "${text}"`);
  return value;
}

/** Pure: argv (without node and script) → options. */
export function parseScaleArgs(argv) {
  const options = {
    quick: false,
    objectsFlat: undefined,
    treeFolders: undefined,
    treePerFolder: undefined,
    parts: PARTS,
    forgetTtl: '5s',
    engine: 'native',
    mountArgs: [],
    dir: undefined,
    out: undefined,
    profile: false,
    help: false,
  };
  eachFlag(argv, (arg, value) => {
    if (arg === '--quick') options.quick = true;
    else if (arg === '--objects-flat') options.objectsFlat = positiveInteger(arg, value());
    else if (arg === '--tree-folders') options.treeFolders = positiveInteger(arg, value());
    else if (arg === '--tree-per-folder') options.treePerFolder = positiveInteger(arg, value());
    else if (arg === '--only') options.parts = value().split(',').map((part) => part.trim()).filter(Boolean);
    else if (arg === '--forget-ttl') options.forgetTtl = value();
    else if (arg === '--engine') options.engine = value();
    else if (arg === '--mount-args') options.mountArgs = value().split(/\s+/).filter(Boolean);
    else if (arg === '--dir') options.dir = value();
    else if (arg === '--out') options.out = value();
    else if (arg === '--profile') options.profile = true;
    else if (arg === '--help' || arg === '-h') options.help = true;
    else throw new UsageError(`unknown flag ${arg}`);
  });
  const unknown = options.parts.filter((part) => !PARTS.includes(part));
  if (unknown.length > 0 || options.parts.length === 0) throw new UsageError(`--only: expected some of ${PARTS.join(', ')}, got ${unknown.join(',') || 'nothing'}`);
  if (options.engine !== 'native' && options.engine !== 'fuse-native') throw new UsageError(`--engine: expected native or fuse-native, got ${options.engine}`);
  return options;
}

/** The sizes of a run: the by default, small ones with --quick, each overridable. */
export function scalePlan(options) {
  return {
    objectsFlat: options.objectsFlat ?? (options.quick ? 10_000 : 100_000),
    treeFolders: options.treeFolders ?? (options.quick ? 100 : 1_000),
    treePerFolder: options.treePerFolder ?? 1_000,
    listPageSize: 10_000,
  };
}
