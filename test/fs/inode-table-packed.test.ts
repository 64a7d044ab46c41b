import { describe, expect, it } from 'vitest';
import { identityPrint, sameObject, type ObjectSighting } from '../../src/fs/object-identity.js';
import { InodeTable, ROOT_INO } from '../../src/fs/inode-table.js';
import { PackedStrings } from '../../src/fs/packed-strings.js';
import { seededRandom } from '../../src/server/faults.js';
import { heapBytesPerEntry } from '../helpers/heap.js';

/** Names that share bytes, differ in case or only past Latin-1, are long, or look like paths of other folders. */
const NAMES = ['a', 'A', 'b', 'ab', 'ba', 'ü', 'версия', '名前', '😀', 'x'.repeat(300), 'y'.repeat(0x10000), 'f-000001.bin', 'f-000010.bin', '.hidden', 'a b'];
const FOLDERS = ['/', '/d', '/d/e', '/D', '/ü', '/d/e/f'];

describe('InodeTable against a model of paths and lookup counts', () => {
  it('agrees on every number and path through random numbering, forgets, renames and drops with squeezes between', () => {
    const next = seededRandom(14);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
    const table = new InodeTable(0);
    /** What the kernel holds: path → [number, lookups]. */
    const held = new Map<string, { ino: number; lookups: number }>();
    const everyNumber = new Set<number>([ROOT_INO]);
    const pathOf = (folder: string, name: string): string => (folder === '/' ? `/${name}` : `${folder}/${name}`);
    for (let step = 0; step < 10_000; step += 1) {
      const roll = next();
      const path = pathOf(pick(FOLDERS), `${pick(NAMES)}${Math.floor(next() * 40)}`);
      const known = held.get(path);
      if (roll < 0.5) {
        const ino = table.inoForPath(path);
        table.addLookup(ino);
        if (known === undefined) {
          // A path nobody held gets a number never handed out before.
          expect(everyNumber.has(ino)).toBe(false);
          everyNumber.add(ino);
          held.set(path, { ino, lookups: 1 });
        } else {
          expect(ino).toBe(known.ino);
          known.lookups += 1;
        }
      } else if (roll < 0.85 && known !== undefined) {
        table.forget(known.ino, 1);
        known.lookups -= 1;
        if (known.lookups === 0) held.delete(path);
      } else if (roll < 0.95 && known !== undefined) {
        const target = pathOf(pick(FOLDERS), `${pick(NAMES)}${Math.floor(next() * 40)}`);
        // A file's name ends in a digit and a folder's never does: neither side of a rename is a folder.
        table.rename(path, target);
        if (target !== path) {
          held.delete(target);
          held.delete(path);
          held.set(target, known);
        }
      } else {
        // A name gone from the store: dropped only when nobody holds it.
        table.dropIfIdle(path);
      }
    }
    for (const [path, { ino }] of held) {
      expect(table.pathForIno(ino)).toBe(path);
      expect(table.knownIno(path)).toBe(ino);
    }
    // Every number nobody holds is gone (the idle bound is 0), and so are the folders only they kept.
    const heldNumbers = new Set([...held.values()].map((entry) => entry.ino));
    for (const ino of everyNumber) if (!heldNumbers.has(ino) && ino !== ROOT_INO) expect(table.pathForIno(ino)).toBeUndefined();
    for (const { ino, lookups } of held.values()) table.forget(ino, lookups);
    expect(table.size).toBe(1);
  });

  it('keeps no JS object or string per number: a walk held by the kernel costs typed arrays, not heap', () => {
    const entries = 100_000;
    const { bytesPerEntry, kept } = heapBytesPerEntry(entries, () => {
      const table = new InodeTable(0);
      for (let folder = 0; folder < 100; folder += 1) {
        const numberChild = table.childNumberer(`/t/d-${folder}`, true);
        for (let i = 0; i < entries / 100; i += 1) {
          const { ino } = numberChild(`f-${String(i).padStart(6, '0')}.bin`, 1, { version: `${folder}-${i}`.padStart(16, '0'), size: i, mtimeMs: 0 });
          table.addLookups(ino, 1);
          table.release(ino);
        }
      }
      return table;
    });
    expect(kept.heldCount).toBe(entries + 100 + 2);
    expect(bytesPerEntry).toBeLessThan(8);
  });

  it('finds a child by its folder number and name, and only that one', () => {
    const table = new InodeTable();
    const numberChild = table.childNumberer('/d', false);
    const numbers = NAMES.map((name) => numberChild(name, 1, undefined).ino);
    const d = table.knownIno('/d') as number;
    NAMES.forEach((name, i) => {
      expect(table.knownChildIno(d, name)).toBe(numbers[i]);
      expect(table.pathForIno(numbers[i] as number)).toBe(`/d/${name}`);
    });
    expect(table.knownChildIno(d, 'missing')).toBeUndefined();
    expect(table.knownChildIno(ROOT_INO, 'a')).toBeUndefined();
    expect(table.knownChildIno(ROOT_INO, 'd')).toBe(d);
    expect(table.knownChildIno(123_456, 'a')).toBeUndefined();
    expect(table.childrenNotListed('/d', 2).sort()).toEqual(NAMES.map((name) => `/d/${name}`).sort());
  });
});

describe('PackedStrings', () => {
  it('takes a string past Latin-1 where a Latin-1 one was, in place or past the bytes in use, and leaves the neighbours be', () => {
    const strings = new PackedStrings(4);
    strings.set(0, 'abcdef');
    strings.set(1, 'ghij');
    // Shorter than the old one (written in place until the wide character), then longer (written past the end).
    strings.set(0, 'aé€');
    strings.set(2, 'klmn');
    strings.set(1, 'ghij-€-longer');
    strings.set(3, 'opq');
    expect([0, 1, 2, 3].map((slot) => strings.get(slot))).toEqual(['aé€', 'ghij-€-longer', 'klmn', 'opq']);
    strings.set(0, 'back to bytes');
    strings.squeezed(4);
    expect([0, 1, 2, 3].map((slot) => strings.get(slot))).toEqual(['back to bytes', 'ghij-€-longer', 'klmn', 'opq']);
    expect(strings.equals(1, 'ghij-€-longer')).toBe(true);
  });

  it('keeps each slot its string through overwrites, moves, growth and repacks', () => {
    const strings = new PackedStrings(4);
    const texts = ['', 'abc', 'ÿ-latin1', 'не latin1', 'z'.repeat(0xfffe), 'short'];
    texts.forEach((text, slot) => {
      if (slot >= 4) strings.resize(slot + 1, slot);
      strings.set(slot, text);
    });
    texts.forEach((text, slot) => {
      expect(strings.get(slot)).toBe(text);
      expect(strings.equals(slot, text)).toBe(true);
      expect(strings.equals(slot, `${text}.`)).toBe(false);
    });
    strings.set(1, 'ab');
    strings.set(5, 'a much longer string than before');
    strings.clear(2);
    strings.move(3, 2);
    strings.move(5, 3);
    strings.squeezed(4);
    expect([0, 1, 2, 3].map((slot) => strings.get(slot))).toEqual(['', 'ab', 'не latin1', 'a much longer string than before']);
    expect(strings.has(4)).toBe(false);
    // A slot without a string matches nothing, not even a string as long as its mark.
    expect(strings.equals(4, 'q'.repeat(0xffff))).toBe(false);
    expect(strings.get(5)).toBeUndefined();
  });
});

describe('identityPrint', () => {
  it('gives two sightings equal prints exactly when they are the same object', () => {
    const sightings: ObjectSighting[] = [
      { version: '1', size: 0 },
      { version: '1', size: 1 },
      { version: '2', size: 0 },
      { version: '', size: 0 },
      { version: undefined, size: 0, mtimeMs: 0 },
      { version: undefined, size: 0, mtimeMs: -0 },
      { version: undefined, size: 0 },
      { version: undefined, size: 0, mtimeMs: 1 },
      { version: undefined, size: 2 ** 40, mtimeMs: 1_764_000_000_000 },
      { version: '0', size: 0, mtimeMs: 5 },
      { version: 'ü', size: 0 },
      { version: 'u', size: 0 },
    ];
    const print = (sighting: ObjectSighting): number[] => {
      const into = new Int32Array(2);
      identityPrint(sighting, into);
      return [...into];
    };
    for (const a of sightings) {
      for (const b of sightings) {
        const [a0, a1] = print(a);
        const [b0, b1] = print(b);
        const equal = a0 === b0 && a1 === b1;
        expect(equal, `${JSON.stringify(a)} and ${JSON.stringify(b)}`).toBe(sameObject(a, b));
      }
    }
  });
});
