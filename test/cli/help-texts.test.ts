import { describe, expect, it } from 'vitest';
import { DEFAULT_TOKEN_CHECK_INTERVAL_MS, DEFAULT_TOKEN_WAIT_MS } from '../../src/auth/credential-provider.js';
import {
  DEFAULT_DIR_MODE,
  DEFAULT_ENDPOINT,
  DEFAULT_FILE_MODE,
  DEFAULT_WRITABLE_DIR_MODE,
  DEFAULT_WRITABLE_FILE_MODE,
  DEFAULT_METADATA_TTL_MS,
  DEFAULT_METRICS_HOST,
  DEFAULT_MOUNT_LOG_LEVEL,
  DEFAULT_NEGATIVE_METADATA_TTL_MS,
  MIN_INODE_CACHE_ENTRIES,
} from '../../src/cli/mount-config.js';
import { DEFAULT_STATUS_TIMEOUT_MS } from '../../src/cli/status-command.js';
import { DEFAULT_METADATA_CACHE_MAX_ENTRIES, DEFAULT_TREE_PREFETCH_MAX_ENTRIES } from '../../src/fs/bucket-filesystem.js';
import { DEFAULT_IDLE_INODES } from '../../src/fs/inode-table.js';
import { DEFAULT_LIST_CACHE_ENTRIES } from '../../src/fs/listing-cache.js';
import { DEFAULT_READ_PATH } from '../../src/fs/read-path-options.js';
import { DEFAULT_READ_AHEAD_KB } from '../../src/fuse/readahead.js';
import { DEFAULT_MAX_STAGING_BYTES } from '../../src/fs/staging-area.js';
import { DEFAULT_RETRY_TIMEOUT_MS } from '../../src/store/retry-policy.js';
import { runCli } from '../helpers/processes.js';

/*
 * `--help` of mount, serve, status and unmount (the built CLI: `npm run build` first) shows the arguments and
 * the default of every option that takes a value, and each default is the one the code uses.
 */
const MiB = 1024 * 1024;

/** Each option of a help text, its wrapped description joined into one line: `--flag <v>` → description. */
async function optionsOf(command: string): Promise<{ usage: string; options: Map<string, string> }> {
  const help = await runCli([command, '--help']);
  expect(help.code).toBe(0);
  const options = new Map<string, string>();
  let current: string | undefined;
  for (const line of help.stdout.slice(help.stdout.indexOf('Options:')).split('\n').slice(1)) {
    const match = /^ {2}(?:-\w, )?(--[a-z-]+)(?: <[^>]+>)?\s+(.*)$/.exec(line);
    if (match?.[1] !== undefined) {
      current = match[1];
      options.set(current, match[2] ?? '');
    } else if (current !== undefined && line.trim() !== '') {
      options.set(current, `${options.get(current)} ${line.trim()}`);
    }
  }
  return { usage: help.stdout.split('\n')[0] ?? '', options };
}

const takesValue = async (command: string): Promise<string[]> => {
  const help = await runCli([command, '--help']);
  return [...help.stdout.matchAll(/^ {2}(--[a-z-]+) </gm)].map((match) => match[1] ?? '');
};

describe('--help', () => {
  it('mount: the arguments, and each default as the code has it', async () => {
    const { usage, options } = await optionsOf('mount');
    expect(usage).toBe('Usage: bucketfs mount ais://BUCKET[/PREFIX] MOUNTPOINT [options]');
    const expected: Record<string, string> = {
      '--endpoint': `(default: $AIS_ENDPOINT, then ${DEFAULT_ENDPOINT})`,
      '--token': '(default: $AIS_AUTHN_TOKEN;',
      '--token-file': '(default: $AIS_AUTHN_TOKEN_FILE)',
      '--token-check-interval': `(default ${DEFAULT_TOKEN_CHECK_INTERVAL_MS}ms)`,
      '--token-wait': `(default ${DEFAULT_TOKEN_WAIT_MS / 1000}s;`,
      '--uid': '(default: the mounting user)',
      '--gid': '(default: the mounting group)',
      '--file-mode': `(default 0${DEFAULT_WRITABLE_FILE_MODE.toString(8)}, 0${DEFAULT_FILE_MODE.toString(8)} with --read-only)`,
      '--dir-mode': `(default 0${DEFAULT_WRITABLE_DIR_MODE.toString(8)}, 0${DEFAULT_DIR_MODE.toString(8)} with --read-only)`,
      '--cache-dir': '(default: no disk cache;',
      '--max-cache-size': '(default: keep 5% of the disk free)',
      '--max-staging-size': `(default ${DEFAULT_MAX_STAGING_BYTES / 1024 ** 3}GiB)`,
      '--metadata-ttl': `(default ${DEFAULT_METADATA_TTL_MS / 1000}s)`,
      '--negative-metadata-ttl': `(default ${DEFAULT_NEGATIVE_METADATA_TTL_MS / 1000}s)`,
      '--log-level': `(default ${DEFAULT_MOUNT_LOG_LEVEL})`,
      '--log-format': '(default: text when stderr is a terminal, else json)',
      '--metrics-port': '(default: off)',
      '--metrics-host': `(default ${DEFAULT_METRICS_HOST})`,
      '--ca-file': '(default: $AIS_CLIENT_CA',
      '--cache-size': `here ${DEFAULT_READ_PATH.cacheSizeBytes / MiB}MiB)`,
      '--part-size': `(default ${DEFAULT_READ_PATH.partSizeBytes / MiB}MiB)`,
      '--max-prefetch': `(default ${DEFAULT_READ_PATH.maxWindowBytes / MiB}MiB)`,
      '--small-object-threshold': `(default ${DEFAULT_READ_PATH.smallObjectThresholdBytes / MiB}MiB)`,
      '--read-ahead-kb': `(default ${DEFAULT_READ_AHEAD_KB})`,
      '--retry-timeout': `(default ${DEFAULT_RETRY_TIMEOUT_MS / 1000}s)`,
      '--metadata-cache-entries': `(default ${DEFAULT_METADATA_CACHE_MAX_ENTRIES})`,
      '--inode-cache-entries': `(default ${DEFAULT_IDLE_INODES}, at least ${MIN_INODE_CACHE_ENTRIES})`,
      '--list-cache-entries': `(default ${DEFAULT_LIST_CACHE_ENTRIES})`,
      '--tree-prefetch-entries': `(default ${DEFAULT_TREE_PREFETCH_MAX_ENTRIES})`,
      '--engine': '(default: native when built, else fuse-native)',
    };
    for (const [flag, text] of Object.entries(expected)) expect(options.get(flag), flag).toContain(text);
    // Only these take a value and have no default: nothing is sent or read unless they are given.
    const withoutDefault = ['--header', '--headers-file', '--config'];
    expect((await takesValue('mount')).filter((flag) => !(flag in expected) && !withoutDefault.includes(flag))).toEqual([]);
    expect(options.get('--header')).not.toContain('default');
  });

  it('mount: --metadata-ttl says what it keeps: attributes, and listings read to the end, for that long', async () => {
    const { options } = await optionsOf('mount');
    expect(options.get('--metadata-ttl')).toBe(
      `how long attributes, and the listings of folders read to the end, are kept before the store is asked again (default ${DEFAULT_METADATA_TTL_MS / 1000}s)`,
    );
    expect(options.get('--list-cache-entries')).toContain('kept for the metadata TTL');
  });

  it('serve: each value option has its default, and --redirect says the target port is printed', async () => {
    const { usage, options } = await optionsOf('serve');
    expect(usage).toBe('Usage: bucketfs serve [options]');
    const expected: Record<string, string> = {
      '--host': '(default: "127.0.0.1")',
      '--port': '(default: "51080")',
      '--auth-secret-file': '(default: no auth)',
      '--fault-rate': '(default: none)',
      '--fault-latency-ms': '(default: 1000)',
      '--fault-kinds': '(default: reset,500,503,slow)',
      '--fault-seed': '(default: random)',
      '--tls-cert': 'default: plain HTTP)',
      '--log-level': '(default: "info")',
      '--log-format': '(default: text when stderr is a terminal, else json)',
    };
    for (const [flag, text] of Object.entries(expected)) expect(options.get(flag), flag).toContain(text);
    const withoutDefault = ['--data', '--tls-key'];
    expect((await takesValue('serve')).filter((flag) => !(flag in expected) && !withoutDefault.includes(flag))).toEqual([]);
    expect(options.get('--redirect')).toContain('the target, on a free port printed at start');
  });

  it('status and unmount: the mountpoint argument and each default', async () => {
    const status = await optionsOf('status');
    expect(status.usage).toBe('Usage: bucketfs status [options] <mountpoint>');
    expect(status.options.get('--timeout')).toContain(`(default ${DEFAULT_STATUS_TIMEOUT_MS / 1000})`);
    const unmount = await optionsOf('unmount');
    expect(unmount.usage).toBe('Usage: bucketfs unmount [options] <mountpoint>');
    expect(unmount.options.get('--lazy')).toContain('(default: refuse while files are open in it)');
  });
});
