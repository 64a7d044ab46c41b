import { describe, expect, it } from 'vitest';
import { IdentityMemo } from '../../src/fs/disk-cache/identity-memo.js';

/** A derivation of `name!` that counts its calls. */
function countedDerive(): { derive: (key: { name: string }) => string; derived: () => number } {
  let calls = 0;
  return {
    derive: (key) => {
      calls += 1;
      return `${key.name}!`;
    },
    derived: () => calls,
  };
}

describe('IdentityMemo', () => {
  it('derives once per object while it is among the last few asked, and anew for an equal but other object', () => {
    const memo = new IdentityMemo<{ name: string }, string>(2);
    const { derive, derived } = countedDerive();
    const a = { name: 'a' };
    expect(memo.get(a, derive)).toBe('a!');
    expect(memo.get(a, derive)).toBe('a!');
    expect(derived()).toBe(1);
    expect(memo.get({ name: 'a' }, derive)).toBe('a!');
    expect(derived()).toBe(2);
    // Two others since: `a` was pushed out, and is derived again (the same value).
    memo.get({ name: 'b' }, derive);
    expect(memo.get(a, derive)).toBe('a!');
    expect(derived()).toBe(4);
  });

  it('keeps what it derived for an object while thousands of others are derived after it', () => {
    const memo = new IdentityMemo<{ name: string }, string>(4_096);
    const { derive, derived } = countedDerive();
    const first = { name: 'first' };
    memo.get(first, derive);
    // As a listing's offers: a batch of other files between a file's offer and its open.
    for (let i = 0; i < 2_000; i += 1) memo.get({ name: `f${i}` }, derive);
    expect(memo.get(first, derive)).toBe('first!');
    expect(derived()).toBe(2_001);
  });
});
