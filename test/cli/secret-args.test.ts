import { describe, expect, it } from 'vitest';
import { maskedProcessTitle, maskSecretArgs, maskUrlPassword, withoutSecretFlags } from '../../src/cli/secret-args.js';

describe('withoutSecretFlags', () => {
  it.each([
    [['mount', 'ais://b', '/m', '--token', 'secret', '--foreground'], ['mount', 'ais://b', '/m', '--foreground'], 'secret', []],
    [['mount', '--token=abc', 'ais://b', '/m'], ['mount', 'ais://b', '/m'], 'abc', []],
    [['mount', 'ais://b', '/m', '--token-file', '/t'], ['mount', 'ais://b', '/m', '--token-file', '/t'], undefined, []],
    [['mount', '--header', 'X-A: 1', 'ais://b', '--header=X-B: 2', '/m'], ['mount', 'ais://b', '/m'], undefined, ['X-A: 1', 'X-B: 2']],
    [['mount', '--token', 'a', '--token', 'b', '/m'], ['mount', '/m'], 'b', []],
    [['mount', '--headers-file', '/h', '/m'], ['mount', '--headers-file', '/h', '/m'], undefined, []],
    [['mount', '/m', '--', '--token', 'x'], ['mount', '/m', '--', '--token', 'x'], undefined, []],
    [['mount', '/m', '--token'], ['mount', '/m'], undefined, []],
    [['mount', '--endpoint', 'http://u:pw@h:1', '/m', '--token=t'], ['mount', '--endpoint', 'http://u:***@h:1', '/m'], 't', []],
    [['mount', '--endpoint=https://u:pw@h', '/m'], ['mount', '--endpoint=https://u:***@h', '/m'], undefined, []],
  ])('%j', (args, kept, token, headers) => {
    expect(withoutSecretFlags(args)).toEqual({ args: kept, token, headers });
  });
});

describe('maskSecretArgs', () => {
  it.each([
    [['mount', '--token', 'eyJhbGc.x.y', '/m'], ['mount', '--token', '***', '/m']],
    [['mount', '--token=eyJhbGc.x.y', '/m'], ['mount', '--token=***', '/m']],
    [['mount', '--header', 'Authorization: Bearer abc', '/m'], ['mount', '--header', 'Authorization: ***', '/m']],
    [['mount', '--header=X-Key:abc', '/m'], ['mount', '--header=X-Key: ***', '/m']],
    [['mount', '--header', 'no-colon', '/m'], ['mount', '--header', '***', '/m']],
    [['mount', '--token-file', '/t', '/m'], ['mount', '--token-file', '/t', '/m']],
    [['mount', '/m', '--token'], ['mount', '/m', '--token']],
    [['mount', '--endpoint', 'http://alice:s3cret@h:51080/p', '/m'], ['mount', '--endpoint', 'http://alice:***@h:51080/p', '/m']],
    [['mount', '--endpoint=http://:s3cret@h', '/m'], ['mount', '--endpoint=http://:***@h', '/m']],
    [['mount', '--endpoint', 'http://alice@h', '/m'], ['mount', '--endpoint', 'http://alice@h', '/m']],
  ])('%j', (args, masked) => {
    expect(maskSecretArgs(args)).toEqual(masked);
  });

  it('gives a title that names the command and quotes arguments with spaces', () => {
    expect(maskedProcessTitle(['mount', 'ais://b', '/m', '--header', 'X-Key: v', '--token', 't'])).toBe("bucketfs mount ais://b /m --header 'X-Key: ***' --token ***");
  });
});

describe('maskUrlPassword', () => {
  it.each([
    ['http://alice:pw@host:1/x?y#z', 'http://alice:***@host:1/x?y#z'],
    ['https://alice:p@ss:w@rd@host', 'https://alice:***@host'],
    ['http://alice@host', 'http://alice@host'],
    ['http://host/a:b@c', 'http://host/a:b@c'],
    ['not a url:pw@x', 'not a url:pw@x'],
  ])('%s', (url, masked) => {
    expect(maskUrlPassword(url)).toBe(masked);
    if (masked !== url) expect(new URL(masked).host).toBe(new URL(url).host);
  });
});
