import { describe, expect, it } from 'vitest';
import { parseBucketUri } from '../../src/cli/bucket-uri.js';
import { ConfigError } from '../../src/cli/config-error.js';
import { expandEnv, parseConfigText } from '../../src/cli/config-file.js';
import {
  CLIENT_CA_ENV,
  DEFAULT_ENDPOINT,
  DEFAULT_METRICS_HOST,
  parseMode,
  resolveMountSettings,
  SKIP_VERIFY_ENV,
  type MountFlags,
} from '../../src/cli/mount-config.js';

describe('parseBucketUri', () => {
  it.each([
    ['ais://b', { bucket: { name: 'b' }, prefix: '' }],
    ['ais://b/', { bucket: { name: 'b' }, prefix: '' }],
    ['ais://b/train/x', { bucket: { name: 'b' }, prefix: 'train/x' }],
    ['ais://b/train/', { bucket: { name: 'b' }, prefix: 'train' }],
    ['b', { bucket: { name: 'b' }, prefix: '' }],
    ['s3://b/p', { bucket: { name: 'b', provider: 'aws' }, prefix: 'p' }],
  ])('%s', (text, expected) => {
    expect(parseBucketUri(text)).toEqual(expected);
  });

  it.each(['ais://', 'ftp://b', 'ais://b@d', ''])('rejects %j', (text) => {
    expect(() => parseBucketUri(text)).toThrow(ConfigError);
  });
});

describe('parseMode', () => {
  it.each([
    ['0444', 0o444],
    ['444', 0o444],
    ['0o755', 0o755],
    [644, 0o644],
  ] as const)('%j → %o', (input, expected) => {
    expect(parseMode(input, 'file_mode')).toBe(expected);
  });
  it.each(['0888', 'rwx', '', '12345'])('rejects %j naming the key', (input) => {
    expect(() => parseMode(input, 'file_mode')).toThrow(/^file_mode: /);
  });
  it.each(['4755', '2555', '1777', '06444', 7444])('rejects setuid, setgid and sticky bits in %j', (input) => {
    expect(() => parseMode(input, '--dir-mode')).toThrow(/^--dir-mode: setuid, setgid and sticky bits are not allowed/);
  });
});

describe('expandEnv / parseConfigText', () => {
  it('expands ${VAR} in nested strings and leaves other values alone', () => {
    expect(expandEnv({ a: 'x${A}y', b: ['${B}'], c: 3, d: { e: '${A}' } }, { A: '1', B: '2' })).toEqual({ a: 'x1y', b: ['2'], c: 3, d: { e: '1' } });
  });
  it('names the key of an unset variable', () => {
    expect(() => expandEnv({ backends: [{ token: '${NOPE}' }] }, {})).toThrow('backends[0].token: environment variable NOPE is not set');
  });
  it('parses JSON and YAML alike', () => {
    expect(parseConfigText('{"bucket": "ais://b", "allow_delete": true}', {})).toEqual({ bucket: 'ais://b', allow_delete: true });
    expect(parseConfigText('bucket: ais://b\nallow_delete: true\n', {})).toEqual({ bucket: 'ais://b', allow_delete: true });
    expect(parseConfigText('', {})).toEqual({});
  });
  it.each(['- a\n- b\n', 'a: [1', '42'])('rejects %j', (text) => {
    expect(() => parseConfigText(text, {})).toThrow(ConfigError);
  });
  it.each([
    ['extra: &x\n  self: *x\n', 'extra.self'],
    ['a: &x [*x]\n', 'a[0]'],
    ['backends:\n  - &b\n    dir_name: a\n    nested: [*b]\n', 'backends[0].nested[0]'],
  ])('reports a self-referencing alias in %j as a config error at %s', (text, key) => {
    expect(() => parseConfigText(text, {})).toThrow(new ConfigError(`${key}: a YAML alias refers to a mapping or list that contains it`));
  });
  it('takes an alias used twice, side by side, as the same value twice', () => {
    expect(parseConfigText('a: &h {X-A: "1"}\nb: *h\n', {})).toEqual({ a: { 'X-A': '1' }, b: { 'X-A': '1' } });
  });
});

describe('resolveMountSettings', () => {
  const resolveWith = (positionals: string[], flags: MountFlags = {}, config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) =>
    resolveMountSettings(positionals, flags, config, env);

  it.each([
    [{}, {}, undefined],
    [{}, { engine: 'fuse-native' }, 'fuse-native'],
    [{ engine: 'native' }, { engine: 'fuse-native' }, 'native'],
  ])('picks the FUSE engine from flags %j over config %j: %s (none: the mount picks)', (flags, config, engine) => {
    expect(resolveWith(['ais://b', '/mnt/x'], flags, config).engine).toBe(engine);
  });

  it.each([
    [{ engine: 'libfuse2' }, {}, /--engine: expected one of native, fuse-native, got "libfuse2"/],
    [{}, { engine: 42 }, /engine: expected one of native, fuse-native, got 42/],
  ])('rejects an unknown engine (flags %j, config %j)', (flags, config, message) => {
    expect(() => resolveWith(['ais://b', '/mnt/x'], flags, config)).toThrow(message);
  });

  it.each([
    [{}, {}, 30_000],
    [{}, { retry_timeout: '2m' }, 120_000],
    [{ retryTimeout: '45s' }, { retry_timeout: '2m' }, 45_000],
  ])('takes the retry timeout from flags %j over config %j: %i ms', (flags, config, expected) => {
    expect(resolveWith(['ais://b', '/mnt/x'], flags, config).retryTimeoutMs).toBe(expected);
  });

  it.each([
    [{ retryTimeout: '0' }, {}, /--retry-timeout: expected a duration above 0/],
    [{ retryTimeout: 'soon' }, {}, /--retry-timeout: invalid duration "soon"/],
    [{}, { retry_timeout: true }, /retry_timeout: expected a duration such as 30s/],
  ])('rejects a retry timeout that is no positive duration (flags %j, config %j)', (flags, config, message) => {
    expect(() => resolveWith(['ais://b', '/mnt/x'], flags, config)).toThrow(message);
  });

  it.each([
    [{}, {}, 60_000],
    [{}, { token_wait: '2m' }, 120_000],
    [{ tokenWait: '0' }, { token_wait: '2m' }, 0],
  ])('takes the token wait from flags %j over config %j: %i ms', (flags, config, waitMs) => {
    expect(resolveWith(['ais://b', '/mnt/x'], flags, config).tokenWaitMs).toBe(waitMs);
  });

  it('rejects a token wait that is not a duration, naming the flag', () => {
    expect(() => resolveWith(['ais://b', '/mnt/x'], { tokenWait: 'soon' })).toThrow(/--token-wait: invalid duration "soon"/);
  });

  it('applies defaults for a bucket and a mountpoint', () => {
    const settings = resolveWith(['ais://b/p', '/mnt/x']);
    expect(settings).toMatchObject({
      mountpoint: '/mnt/x',
      allowDelete: false,
      allowOther: false,
      readOnly: false,
      fileMode: 0o644,
      dirMode: 0o755,
      allowOverwrite: false,
      metadataTtlMs: 60_000,
      negativeMetadataTtlMs: 5_000,
      logLevel: 'warn',
      foreground: false,
    });
    expect(settings.backends).toEqual([
      {
        dirName: undefined,
        location: { bucket: { name: 'b' }, prefix: 'p' },
        endpoint: DEFAULT_ENDPOINT,
        endpointIsDefault: true,
        token: undefined,
        tokenFile: undefined,
        tokenCheckIntervalMs: undefined,
        headers: [],
        headersFile: undefined,
      },
    ]);
  });

  it.each([
    ['AIS_ENDPOINT when no flag or config', {}, {}, { AIS_ENDPOINT: 'http://env:1' }, 'http://env:1'],
    ['config over AIS_ENDPOINT', {}, { endpoint: 'http://cfg:2' }, { AIS_ENDPOINT: 'http://env:1' }, 'http://cfg:2'],
    ['flag over config', { endpoint: 'http://flag:3/' }, { endpoint: 'http://cfg:2' }, {}, 'http://flag:3'],
    ['a password masked (never sent: requests go to the origin)', {}, { endpoint: 'http://u:pw@cfg:2/' }, {}, 'http://u:***@cfg:2'],
    ['a password in AIS_ENDPOINT masked', {}, {}, { AIS_ENDPOINT: 'https://u:pw@env:1' }, 'https://u:***@env:1'],
  ])('endpoint: %s', (_label, flags, config, env, expected) => {
    const backend = resolveWith(['ais://b', '/m'], flags, config, env).backends[0];
    expect(backend?.endpoint).toBe(expected);
    // Named by someone: an error must not call it the default.
    expect(backend?.endpointIsDefault).toBeUndefined();
  });

  it('lets flags override config values and accumulates headers', () => {
    const settings = resolveWith(
      ['/m'],
      { metadataTtl: '5s', fileMode: '0440', header: ['X-B: 2'], allowDelete: true },
      { bucket: 'ais://b', prefix: 'sub', metadata_ttl: '1m', negative_metadata_ttl: '0', file_mode: '0400', uid: 1000, headers: { 'X-A': '1' }, token_check_interval: '2s' },
    );
    expect(settings).toMatchObject({ metadataTtlMs: 5000, negativeMetadataTtlMs: 0, fileMode: 0o440, uid: 1000, allowDelete: true });
    expect(settings.backends[0]).toMatchObject({ location: { bucket: { name: 'b' }, prefix: 'sub' }, headers: ['X-A: 1', 'X-B: 2'], tokenCheckIntervalMs: 2000 });
  });

  it('builds one backend per config entry, inheriting shared settings', () => {
    const settings = resolveWith(['/m'], { tokenFile: '/flag/token' }, {
      endpoint: 'http://shared:1',
      backends: [
        { dir_name: 'train', bucket: 'ais://t', prefix: 'x/' },
        { dir_name: 'eval', bucket: 'ais://e', endpoint: 'http://other:2', token_file: '/own/token' },
      ],
    });
    expect(settings.backends.map((b) => [b.dirName, b.location.bucket.name, b.location.prefix, b.endpoint, b.tokenFile])).toEqual([
      ['train', 't', 'x', 'http://shared:1', '/flag/token'],
      ['eval', 'e', '', 'http://other:2', '/own/token'],
    ]);
  });

  it.each([
    [{ readOnly: true }, {}, true],
    [{}, { read_only: true }, true],
    [{ readOnly: false }, { read_only: true }, false],
  ])('reads --read-only from flags %j over config %j: %s', (flags, config, readOnly) => {
    expect(resolveWith(['ais://b', '/mnt/x'], flags, config).readOnly).toBe(readOnly);
  });

  it.each<[string, string[], MountFlags, Record<string, unknown>, RegExp]>([
    ['read-only with allow-delete', ['ais://b', '/m'], { readOnly: true }, { allow_delete: true }, /^--read-only and --allow-delete cannot be combined$/],
    ['part size 0', ['ais://b', '/m'], { partSize: '0' }, {}, /^--part-size: must be more than 0$/],
    ['part size 0 in the config', ['ais://b', '/m'], {}, { part_size: '0MiB' }, /^part_size: must be more than 0$/],
    ['a setuid file mode', ['ais://b', '/m'], { fileMode: '4444' }, {}, /^--file-mode: setuid, setgid and sticky bits are not allowed/],
    ['unknown top-level key', ['ais://b', '/m'], {}, { bucket_name: 'x' }, /^bucket_name: unknown setting/],
    ['unknown backend key', ['/m'], {}, { backends: [{ dir_name: 'a', bucket: 'b', colour: 1 }] }, /^backends\[0\]\.colour: unknown setting/],
    ['backend without dir_name', ['/m'], {}, { backends: [{ bucket: 'b' }] }, /^backends\[0\]\.dir_name: required/],
    ['duplicate dir_name', ['/m'], {}, { backends: [{ dir_name: 'a', bucket: 'b' }, { dir_name: 'a', bucket: 'c' }] }, /^backends\[1\]\.dir_name: .* used twice/],
    ['empty backends', ['/m'], {}, { backends: [] }, /^backends: expected a non-empty list/],
    ['bad duration in config', ['ais://b', '/m'], {}, { metadata_ttl: 'soon' }, /^metadata_ttl: /],
    ['bad duration flag', ['ais://b', '/m'], { negativeMetadataTtl: '-1s' }, {}, /^--negative-metadata-ttl: /],
    ['bad boolean', ['ais://b', '/m'], {}, { allow_delete: 'yes' }, /^allow_delete: expected true or false/],
    ['bad uid', ['ais://b', '/m'], { uid: 'root' }, {}, /^--uid: expected a numeric id/],
    ['bad log level', ['ais://b', '/m'], {}, { log_level: 'loud' }, /^log_level: expected one of/],
    ['bad endpoint', ['ais://b', '/m'], { endpoint: 'localhost:8080' }, {}, /^--endpoint: /],
    ['no mountpoint', [], {}, { bucket: 'b' }, /^MOUNTPOINT: required/],
    ['a bucket URI but no mountpoint', ['ais://b'], {}, {}, /^MOUNTPOINT: required/],
    ['no bucket', ['/m'], {}, {}, /^bucket: required/],
    ['too many arguments', ['a', 'b', 'c'], {}, {}, /^unexpected argument "c": bucketfs mount takes ais:\/\/BUCKET/],
    ['bucket and backends together', ['/m'], {}, { bucket: 'b', backends: [{ dir_name: 'a', bucket: 'c' }] }, /^bucket: cannot be combined with backends/],
  ])('rejects %s', (_label, positionals, flags, config, message) => {
    expect(() => resolveWith(positionals, flags, config)).toThrow(message);
  });
});

describe('metrics and TLS settings', () => {
  const base = ['ais://b', '/mnt/x'] as const;
  const resolveWith = (flags: MountFlags, config: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}) => resolveMountSettings(base, flags, config, env);

  it('has no metrics server and verified TLS by default', () => {
    const settings = resolveWith({});
    expect(settings.metricsPort).toBeUndefined();
    expect(settings.metricsHost).toBe(DEFAULT_METRICS_HOST);
    expect(settings.tls).toEqual({ caFile: undefined, insecureSkipVerify: false });
  });

  it.each([
    [{ metricsPort: '9100' }, {}, 9100, '127.0.0.1'],
    [{}, { metrics_port: 9200, metrics_host: '0.0.0.0' }, 9200, '0.0.0.0'],
    [{ metricsPort: '9300', metricsHost: '::1' }, { metrics_port: 9200 }, 9300, '::1'],
    [{ metricsPort: '0' }, {}, 0, '127.0.0.1'],
  ] as const)('flags %j over config %j → port %i on %s', (flags, config, port, host) => {
    const settings = resolveWith(flags, config);
    expect([settings.metricsPort, settings.metricsHost]).toEqual([port, host]);
  });

  it.each([['99999'], ['-1'], ['http'], ['']])('rejects --metrics-port %j naming the flag', (port) => {
    expect(() => resolveWith({ metricsPort: port })).toThrow(/^--metrics-port: /);
  });

  it.each([
    [{}, {}, {}, { caFile: undefined, insecureSkipVerify: false }],
    [{}, {}, { [CLIENT_CA_ENV]: '/env/ca.pem', [SKIP_VERIFY_ENV]: 'true' }, { caFile: '/env/ca.pem', insecureSkipVerify: true }],
    [{}, {}, { [SKIP_VERIFY_ENV]: 'false' }, { caFile: undefined, insecureSkipVerify: false }],
    [{}, { ca_file: '/cfg/ca.pem', insecure_skip_verify: true }, { [CLIENT_CA_ENV]: '/env/ca.pem' }, { caFile: '/cfg/ca.pem', insecureSkipVerify: true }],
    [{ caFile: '/flag/ca.pem' }, { ca_file: '/cfg/ca.pem', insecure_skip_verify: false }, { [SKIP_VERIFY_ENV]: 'true' }, { caFile: '/flag/ca.pem', insecureSkipVerify: false }],
    [{ insecureSkipVerify: true }, {}, {}, { caFile: undefined, insecureSkipVerify: true }],
  ] as const)('flags %j, config %j, env %j → %j', (flags, config, env, tls) => {
    expect(resolveWith(flags, config, env).tls).toEqual(tls);
  });
});

describe('metadata bounds', () => {
  const resolveWith = (flags: MountFlags, config: Record<string, unknown> = {}) => resolveMountSettings(['ais://b', '/mnt/x'], flags, config, {});

  it('leaves every bound to the core by default, and takes flags over config', () => {
    expect(resolveWith({}).metadataLimits).toEqual({ metadataCacheEntries: undefined, inodeCacheEntries: undefined, listCacheEntries: undefined, treePrefetchEntries: undefined });
    const settings = resolveWith(
      { metadataCacheEntries: '5000', treePrefetchEntries: '0' },
      { metadata_cache_entries: 7, inode_cache_entries: 20000, list_cache_entries: '0', tree_prefetch_entries: 99 },
    );
    expect(settings.metadataLimits).toEqual({ metadataCacheEntries: 5000, inodeCacheEntries: 20000, listCacheEntries: 0, treePrefetchEntries: 0 });
  });

  it.each([
    [{ inodeCacheEntries: '100' }, /^--inode-cache-entries: expected a whole number of entries of at least 10000, got "100"$/],
    [{ metadataCacheEntries: '0' }, /^--metadata-cache-entries: expected a whole number of entries of at least 1/],
    [{ listCacheEntries: 'lots' }, /^--list-cache-entries: expected a whole number of entries, got "lots"$/],
  ] as const)('rejects %j naming the flag', (flags, message) => {
    expect(() => resolveWith(flags)).toThrow(message);
  });
});
