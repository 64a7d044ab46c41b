import { describe, expect, it } from 'vitest';
import { configHoldsSecrets } from '../../src/cli/config-file.js';

/* A config file that writes out a token or header value is as secret as a token file. */
describe('configHoldsSecrets', () => {
  it.each([
    ['nothing secret', { endpoint: 'http://x', token_file: '/t' }, false],
    ['a literal token', { token: 'eyJhbGc.x.y' }, true],
    ['a token from the environment', { token: '${AIS_TOKEN}' }, false],
    ['a token from a variable inside text', { token: 'prefix-${AIS_TOKEN}' }, true],
    ['header values written out (mapping)', { headers: { 'X-Key': 'abc' } }, true],
    ['header values from the environment (mapping)', { headers: { 'X-Key': '${KEY}' } }, false],
    ['header values written out (list)', { headers: ['X-Key: abc'] }, true],
    ['header values from the environment (list)', { headers: ['X-Key: ${KEY}'] }, false],
    ['a literal token in a backend', { backends: [{ dir_name: 'a', bucket: 'b' }, { dir_name: 'c', bucket: 'd', token: 'abc' }] }, true],
    ['backends with token files only', { backends: [{ dir_name: 'a', bucket: 'b', token_file: '/t' }] }, false],
    ['not a mapping', ['token: x'], false],
    ['empty', null, false],
  ])('%s', (_label, raw, expected) => {
    expect(configHoldsSecrets(raw)).toBe(expected);
  });
});
