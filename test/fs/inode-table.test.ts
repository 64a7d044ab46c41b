import { describe, expect, it } from 'vitest';
import { InodeTable, ROOT_INO } from '../../src/fs/inode-table.js';

const FILES = 5_000;

/** `count` files under `/d`, each handed to the kernel once, as a READDIRPLUS batch leaves them. */
function numberFiles(table: InodeTable, count: number, pass = 1): number[] {
  const numberChild = table.childNumberer('/d', true);
  return Array.from({ length: count }, (_, i) => {
    const { ino } = numberChild(`f${i}`, pass, { version: `v${i}`, size: i, mtimeMs: 0 });
    table.addLookups(ino, 1);
    table.release(ino);
    return ino;
  });
}

describe('InodeTable over many numbers', () => {
  it('keeps every number, path and count right while most of a big table is forgotten and its room given back', () => {
    const table = new InodeTable(0);
    const numbers = numberFiles(table, FILES);
    expect(new Set(numbers).size).toBe(FILES);
    expect(table.heldCount).toBe(FILES + 2);
    // Forget all but every tenth: the table squeezes the dead out on the way.
    numbers.forEach((ino, i) => {
      if (i % 10 !== 0) table.forget(ino, 1);
    });
    expect(table.size).toBe(FILES / 10 + 2);
    numbers.forEach((ino, i) => {
      expect(table.pathForIno(ino)).toBe(i % 10 === 0 ? `/d/f${i}` : undefined);
      if (i % 10 === 0) expect(table.knownIno(`/d/f${i}`)).toBe(ino);
    });
    expect(table.childPath(table.knownIno('/d') as number, 'x')).toBe('/d/x');
    expect(table.childrenNotListed('/d', 1)).toEqual([]);
    // The lookups kept their counts: one more forget each drops the rest, and the folder with them.
    numbers.forEach((ino, i) => {
      if (i % 10 === 0) table.forget(ino, 1);
    });
    expect(table.size).toBe(1);
    expect(table.knownIno('/d')).toBeUndefined();
    // Numbers are never reused.
    expect(table.inoForPath('/d/f0')).toBeGreaterThan(Math.max(...numbers));
    expect(table.inoForPath('/')).toBe(ROOT_INO);
  });

  it('remembers what each file looked like across a squeeze', () => {
    const table = new InodeTable(0);
    const numbers = numberFiles(table, FILES);
    numbers.forEach((ino, i) => {
      if (i >= 100) table.forget(ino, 1);
    });
    expect(table.sawSighting('/d/f7', { version: 'v7', size: 7, mtimeMs: 0 })).toBe(false);
    expect(table.sawSighting('/d/f8', { version: 'v8-new', size: 8, mtimeMs: 0 })).toBe(true);
    expect(table.sawSighting('/d/f9', { version: 'v9', size: 10, mtimeMs: 0 })).toBe(true);
  });

  it('numbers on with one numberer while the table grows and squeezes between its calls', () => {
    const table = new InodeTable(0);
    const numberChild = table.childNumberer('/d', true);
    const first = Array.from({ length: FILES }, (_, i) => numberChild(`f${i}`, 1, undefined).ino);
    // Let go of all but the last: a squeeze moves every slot, the folder's among them.
    first.slice(0, -1).forEach((ino) => table.release(ino));
    const again = numberChild(`f${FILES - 1}`, 1, undefined);
    expect(again.ino).toBe(first[FILES - 1]);
    const fresh = numberChild('g', 1, { version: undefined, size: 1, mtimeMs: 5 });
    expect(fresh.path).toBe('/d/g');
    expect(table.pathForIno(fresh.ino)).toBe('/d/g');
    expect(table.childrenNotListed('/d', 2).sort()).toEqual([`/d/f${FILES - 1}`, '/d/g']);
  });

  it('finds again a folder the idle bound dropped while its numberer was out', () => {
    const table = new InodeTable(1);
    const numberChild = table.childNumberer('/d', false);
    const a = numberChild('a', 1, undefined);
    // Two more idle numbers elsewhere push out `/d/a`, and with it the folder it kept.
    table.inoForPath('/x');
    table.inoForPath('/y');
    expect(table.knownIno('/d')).toBeUndefined();
    const b = numberChild('b', 1, undefined);
    expect(b.ino).toBeGreaterThan(a.ino);
    expect(table.pathForIno(b.ino)).toBe('/d/b');
  });

  it('tells a changed version from the same one, whatever the version looks like, across a squeeze', () => {
    const table = new InodeTable(0);
    const versions = ['1', 'a-long-version-'.repeat(5_000), 'versión-ü', 'версия', ''];
    const numbers = numberFiles(table, FILES);
    versions.forEach((version, i) => expect(table.sawSighting(`/d/f${i}`, { version, size: i, mtimeMs: 0 })).toBe(true));
    numbers.forEach((ino, i) => {
      if (i >= versions.length) table.forget(ino, 1);
    });
    versions.forEach((version, i) => {
      expect(table.sawSighting(`/d/f${i}`, { version, size: i, mtimeMs: 0 })).toBe(false);
      // Shorter, then longer again: each a new object, and then the same one.
      expect(table.sawSighting(`/d/f${i}`, { version: version.slice(0, 1), size: i, mtimeMs: 0 })).toBe(version.length > 1);
      expect(table.sawSighting(`/d/f${i}`, { version: `${version}+`, size: i, mtimeMs: 0 })).toBe(true);
      expect(table.sawSighting(`/d/f${i}`, { version: `${version}+`, size: i, mtimeMs: 0 })).toBe(false);
      expect(table.sawSighting(`/d/f${i}`, { version: undefined, size: i, mtimeMs: 0 })).toBe(true);
    });
  });
});

describe('InodeTable rename', () => {
  it('keeps a renamed file its number, under a folder made after it, across a squeeze that moves every slot', () => {
    const table = new InodeTable(0);
    const numbers = numberFiles(table, FILES);
    const moved = numbers[3] as number;
    // The new folder's slot comes after the file's: a squeeze must not rely on folders coming first.
    table.rename('/d/f3', '/later/deeper/g3');
    expect(table.pathForIno(moved)).toBe('/later/deeper/g3');
    expect(table.knownIno('/later/deeper/g3')).toBe(moved);
    expect(table.knownIno('/d/f3')).toBeUndefined();
    numbers.forEach((ino, i) => {
      if (i !== 3 && i % 100 !== 0) table.forget(ino, 1);
    });
    expect(table.pathForIno(moved)).toBe('/later/deeper/g3');
    expect(table.pathForIno(numbers[100] as number)).toBe('/d/f100');
    expect(table.sawSighting('/later/deeper/g3', { version: 'v3', size: 3, mtimeMs: 0 })).toBe(false);
    // Its last forget drops it and the folders it alone kept.
    table.forget(moved, 1);
    expect(table.knownIno('/later')).toBeUndefined();
    expect(table.pathForIno(numbers[0] as number)).toBe('/d/f0');
  });

  it('drops the number the new name had, and leaves folders and unknown names alone', () => {
    const table = new InodeTable(0);
    const [a, b] = numberFiles(table, 2) as [number, number];
    table.rename('/d/f0', '/d/f1');
    expect(table.pathForIno(a)).toBe('/d/f1');
    expect(table.pathForIno(b)).toBeUndefined();
    table.rename('/d', '/e');
    expect(table.pathForIno(a)).toBe('/d/f1');
    table.rename('/d/none', '/d/other');
    expect(table.knownIno('/d/other')).toBeUndefined();
  });

  it('never moves a file under itself, one level down or several', () => {
    const table = new InodeTable(0);
    const [a] = numberFiles(table, 1) as [number];
    table.rename('/d/f0', '/d/f0/x');
    table.rename('/d/f0', '/d/f0/b/c');
    expect(table.pathForIno(a)).toBe('/d/f0');
    expect(table.knownIno('/d/f0/b')).toBeUndefined();
  });

  it('settles a batch entry in one step: its lookups counted and its hold let go, so it lives until the kernel forgets them', () => {
    const table = new InodeTable(0);
    const { ino } = table.childNumberer('/d', true)('f', 1, undefined);
    table.releaseCounting(ino, 2);
    expect(table.heldCount).toBe(3);
    table.forget(ino, 1);
    expect(table.pathForIno(ino)).toBe('/d/f');
    table.forget(ino, 1);
    expect(table.pathForIno(ino)).toBeUndefined();
    // Handed out none: the hold alone goes, and with nothing else keeping it, the number does too.
    const other = table.childNumberer('/d', true)('g', 1, undefined).ino;
    table.releaseCounting(other, 0);
    expect(table.pathForIno(other)).toBeUndefined();
  });

  it('tells a pass only of the numbers older than itself that it did not name', () => {
    const table = new InodeTable();
    const numberChild = table.childNumberer('/d', false);
    numberChild('a', 1, undefined);
    numberChild('b', 1, undefined);
    const passBegan = table.nextNumber;
    // Numbered while the pass ran (a lookup, say), and never named by it: it may have come and gone meanwhile.
    numberChild('c', 1, undefined);
    table.markChildListed('/d', 'a', 2);
    expect(table.childrenNotListed('/d', 2, passBegan)).toEqual(['/d/b']);
    expect(table.childrenNotListed('/d', 2).sort()).toEqual(['/d/b', '/d/c']);
    expect(table.hasNumberedChildren('/d')).toBe(true);
    expect(table.hasNumberedChildren('/e')).toBe(false);
  });
});
