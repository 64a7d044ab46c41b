import { execFile } from 'node:child_process';
import { mkdir, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { startServer } from '../server/server.js';
import { CliError } from './cli-error.js';
import { DEMO_BIG_FILE, DEMO_BUCKET, demoDataDir, ensureDemoData, md5OfFile } from './demo-data.js';
import { createLogger, LOG_LEVELS } from './logger.js';
import {
  DEFAULT_DIR_MODE,
  DEFAULT_FILE_MODE,
  DEFAULT_METADATA_TTL_MS,
  DEFAULT_NEGATIVE_METADATA_TTL_MS,
  type MountSettings,
} from './mount-config.js';
import { holdMount, startMountSession } from './mount-session.js';

const run = promisify(execFile);
export const DEFAULT_DEMO_MOUNTPOINT = '/tmp/bucketfs-demo';

interface DemoOptions {
  readonly listAndExit?: boolean;
  readonly exitAfter?: string;
  readonly logLevel?: string;
  readonly data?: string;
}

function demoSettings(mountpoint: string, endpoint: string, logLevel: string): MountSettings {
  return {
    mountpoint,
    backends: [
      {
        dirName: undefined,
        location: { bucket: { name: DEMO_BUCKET }, prefix: '' },
        endpoint,
        token: undefined,
        tokenFile: undefined,
        tokenCheckIntervalMs: undefined,
        headers: [],
        headersFile: undefined,
      },
    ],
    allowDelete: false,
    // The demo shows reading; its text says a write is refused.
    readOnly: true,
    allowOther: false,
    uid: undefined,
    gid: undefined,
    fileMode: DEFAULT_FILE_MODE,
    dirMode: DEFAULT_DIR_MODE,
    metadataTtlMs: DEFAULT_METADATA_TTL_MS,
    negativeMetadataTtlMs: DEFAULT_NEGATIVE_METADATA_TTL_MS,
    logLevel,
    foreground: true,
  };
}

async function runDemo(mountpointArg: string | undefined, options: DemoOptions): Promise<void> {
  const exitAfterSeconds = options.exitAfter === undefined ? undefined : Number(options.exitAfter);
  if (exitAfterSeconds !== undefined && !(exitAfterSeconds >= 0)) throw new CliError('--exit-after: expected a number of seconds', 2);
  const logLevel = options.logLevel ?? 'warn';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) throw new CliError(`--log-level: expected one of ${LOG_LEVELS.join(', ')}`, 2);
  const logger = createLogger(logLevel);
  const print = (line = ''): void => void process.stdout.write(`${line}\n`);
  const mountpoint = resolve(mountpointArg ?? DEFAULT_DEMO_MOUNTPOINT);

  const dataDir = resolve(options.data ?? demoDataDir());
  print(`Preparing sample data in ${join(dataDir, DEMO_BUCKET)} ...`);
  const bucketDir = await ensureDemoData(dataDir);
  const server = await startServer({ dataDir, host: '127.0.0.1', port: 0, logger: logger.child({ component: 'server' }) });
  let session;
  // The folder the demo made for its mount goes with it; one that was there before stays.
  let madeMountpoint: string | undefined;
  const removeMadeMountpoint = async (): Promise<void> => {
    if (madeMountpoint !== undefined) await rmdir(madeMountpoint).catch(() => {});
  };
  try {
    const firstMade = await mkdir(mountpoint, { recursive: true }).catch(() => undefined);
    if (firstMade !== undefined) madeMountpoint = mountpoint;
    session = await startMountSession(demoSettings(mountpoint, server.url, logLevel), process.env, logger, (line) => print(line));
  } catch (error) {
    await server.close();
    await removeMadeMountpoint();
    throw error;
  }
  try {
    const expectedMd5 = await md5OfFile(join(bucketDir, DEMO_BIG_FILE));
    print(`Server: ${server.url}   bucket: ais://${DEMO_BUCKET}   mounted at: ${mountpoint}`);
    print(`Data: ${bucketDir} (one file per object; kept for the next run: remove the folder to free its 64 MiB)`);
    print('');
    print('Try, in another terminal:');
    print(`  ls -la ${mountpoint}`);
    print(`  find ${mountpoint}`);
    print(`  cat ${mountpoint}/hello.txt`);
    print(`  md5sum ${mountpoint}/${DEMO_BIG_FILE}    # expect ${expectedMd5}`);
    print(`  rm ${mountpoint}/hello.txt                  # refused: the demo mounts without --allow-delete`);
    print('');
    if (options.listAndExit) {
      // A child process: a synchronous read here would block the loop that serves the mount.
      const { stdout } = await run('ls', ['-la', mountpoint]);
      print(stdout.trimEnd());
      return;
    }
    if (exitAfterSeconds !== undefined) {
      await Promise.race([new Promise((done) => setTimeout(done, exitAfterSeconds * 1000)), holdMount(session, logger)]);
      return;
    }
    print('Press Ctrl-C to unmount and stop.');
    await holdMount(session, logger);
  } finally {
    await session.stop();
    await server.close();
    await removeMadeMountpoint();
    print(`Unmounted ${mountpoint}.`);
  }
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(`Mount a sample bucket served by the embedded local server (default at ${DEFAULT_DEMO_MOUNTPOINT})`)
    .argument('[mountpoint]', 'where to mount', undefined)
    .option('--list-and-exit', 'print `ls -la` of the mount, then unmount and exit')
    .option('--exit-after <seconds>', 'unmount and exit after this many seconds')
    .option('--log-level <level>', `one of ${LOG_LEVELS.join(', ')} (default warn)`)
    .option('--data <dir>', 'the folder the sample data goes in, one subfolder per bucket (default: ~/.cache/bucketfs/demo-data)')
    .action(async (mountpoint: string | undefined, options: DemoOptions) => {
      await runDemo(mountpoint, options);
      process.exit(0);
    });
}
