/**
 * What was derived lately from objects, found by the object itself (not by a text built from it): a file's
 * offer (made when a listing hands it over), its open and its fill ask for the same block's path and header
 * text with the same key object, while the listing's other entries and the reads of other files come
 * between. A map by identity, strongly held and emptied at once when full: a WeakMap would cost the garbage
 * collector work for every short-lived key, and a lookup costs the same however many it holds.
 */
export class IdentityMemo<K extends object, V> {
  private readonly values = new Map<K, V>();

  constructor(private readonly max: number) {}

  /** The value kept for `key`, else `derive(key)`, kept (after forgetting all others when `max` are kept). */
  get(key: K, derive: (key: K) => V): V {
    let value = this.values.get(key);
    if (value === undefined) {
      value = derive(key);
      if (this.values.size >= this.max) this.values.clear();
      this.values.set(key, value);
    }
    return value;
  }
}
