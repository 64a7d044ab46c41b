/** An empty bucket, and "no slot". */
export const NO_SLOT = -1;
const MIN_BUCKETS = 2048;

/**
 * The slots of a table by a hash of their key, as an open-addressing index (linear probing, at
 * most half full) in one typed array: a table of a million keys would otherwise need a Map with a
 * JS string for every key. The index keeps each slot's hash; the table keeps the keys and tells a
 * match:
 *
 *     for (let bucket = index.first(hash); ; bucket = index.next(bucket)) {
 *       const slot = index.slotAt(bucket);
 *       if (slot === NO_SLOT) return NO_SLOT;
 *       if (index.hashOf(slot) === hash && keyOf(slot) === key) return slot;
 *     }
 */
export class SlotIndex {
  private buckets: Int32Array = new Int32Array(MIN_BUCKETS).fill(NO_SLOT);
  private hashes: Int32Array;
  private entries = 0;

  constructor(slotCapacity: number) {
    this.hashes = new Int32Array(slotCapacity);
  }

  get size(): number {
    return this.entries;
  }

  first(hash: number): number {
    return hash & (this.buckets.length - 1);
  }

  next(bucket: number): number {
    return (bucket + 1) & (this.buckets.length - 1);
  }

  slotAt(bucket: number): number {
    return this.buckets[bucket] as number;
  }

  hashOf(slot: number): number {
    return this.hashes[slot] as number;
  }

  /** Files `slot` (not in the index) under `hash`. */
  add(slot: number, hash: number): void {
    if ((this.entries + 1) * 2 > this.buckets.length) this.rehash(this.buckets.length * 2);
    this.hashes[slot] = hash;
    this.place(slot);
    this.entries += 1;
  }

  /** Takes `slot` (in the index) out, moving back the slots after it that it pushed on (no tombstones). */
  delete(slot: number): void {
    let hole = this.first(this.hashes[slot] as number);
    while (this.buckets[hole] !== slot) hole = this.next(hole);
    for (let bucket = this.next(hole); ; bucket = this.next(bucket)) {
      const moving = this.buckets[bucket] as number;
      if (moving === NO_SLOT) break;
      const home = this.first(this.hashes[moving] as number);
      // `moving` may fill the hole unless its home lies cyclically in (hole, bucket].
      const homeAfterHole = hole <= bucket ? home > hole && home <= bucket : home > hole || home <= bucket;
      if (homeAfterHole) continue;
      this.buckets[hole] = moving;
      hole = bucket;
    }
    this.buckets[hole] = NO_SLOT;
    this.entries -= 1;
  }

  /** The table moved slot `from` to `to` (whose hash is no longer needed); call `renumber` once all moved. */
  moveHash(from: number, to: number): void {
    this.hashes[to] = this.hashes[from] as number;
  }

  /**
   * The table moved its slots (`moved`: old slot → new one): a slot's bucket depends on its hash
   * alone, so each bucket just names the new slot. Then fits the buckets to what is left.
   */
  renumber(moved: Int32Array): void {
    for (let bucket = 0; bucket < this.buckets.length; bucket += 1) {
      const slot = this.buckets[bucket] as number;
      if (slot !== NO_SLOT) this.buckets[bucket] = moved[slot] as number;
    }
    let buckets = MIN_BUCKETS;
    while (buckets < this.entries * 2) buckets *= 2;
    if (buckets * 4 <= this.buckets.length) this.rehash(buckets);
  }

  /** The table's slots now number `capacity`, of which the first `count` are in use. */
  resizeSlots(capacity: number, count: number): void {
    const hashes = new Int32Array(capacity);
    hashes.set(this.hashes.subarray(0, Math.min(count, capacity)));
    this.hashes = hashes;
  }

  clear(): void {
    this.buckets = new Int32Array(MIN_BUCKETS).fill(NO_SLOT);
    this.entries = 0;
  }

  private place(slot: number): void {
    let bucket = this.first(this.hashes[slot] as number);
    while (this.buckets[bucket] !== NO_SLOT) bucket = this.next(bucket);
    this.buckets[bucket] = slot;
  }

  private rehash(size: number): void {
    const old = this.buckets;
    this.buckets = new Int32Array(size).fill(NO_SLOT);
    for (let bucket = 0; bucket < old.length; bucket += 1) {
      const slot = old[bucket] as number;
      if (slot !== NO_SLOT) this.place(slot);
    }
  }
}
