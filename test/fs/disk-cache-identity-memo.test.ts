import { describe, expect, it } from 'vitest';
import { IdentityMemo } from '../../src/fs/disk-cache/identity-memo.js';

describe('IdentityMemo', () => {
  it('derives once per object while it is among the last few asked, and anew for an equal but other object', () => {
    const memo = new IdentityMemo<{ name: string }, string>(2);
    let derived = 0;
    const derive = (key: { name: string }): string => {
      derived += 1;
      return `${key.name}!`;
    };
    const a = { name: 'a' };
    expect(memo.get(a, derive)).toBe('a!');
    expect(memo.get(a, derive)).toBe('a!');
    expect(derived).toBe(1);
    expect(memo.get({ name: 'a' }, derive)).toBe('a!');
    expect(derived).toBe(2);
    // Two others since: `a` was pushed out, and is derived again (the same value).
    memo.get({ name: 'b' }, derive);
    expect(memo.get(a, derive)).toBe('a!');
    expect(derived).toBe(4);
  });
});
