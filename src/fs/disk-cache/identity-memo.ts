/**
 * What was derived lately from a few objects, found by the object itself (not by a text built from it): the
 * steps of one read ask for the same block's path and header text several times, with the same key object,
 * while the reads of other files come between. A few slots searched in turn, strongly held: a WeakMap would
 * cost the garbage collector work for every short-lived key, more than the memo saves.
 */
export class IdentityMemo<K extends object, V> {
  private readonly keys: (K | undefined)[];
  private readonly values: (V | undefined)[];
  private next = 0;

  constructor(slots: number) {
    this.keys = new Array<K | undefined>(slots).fill(undefined);
    this.values = new Array<V | undefined>(slots).fill(undefined);
  }

  /** The value kept for `key`, else `derive(key)`, kept in place of the oldest. */
  get(key: K, derive: (key: K) => V): V {
    for (let slot = 0; slot < this.keys.length; slot += 1) {
      if (this.keys[slot] === key) return this.values[slot] as V;
    }
    const value = derive(key);
    this.keys[this.next] = key;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.keys.length;
    return value;
  }
}
