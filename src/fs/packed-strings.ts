/** `lengths` of a slot without a string. */
const NO_STRING = 0xffff;
/** `lengths` of a slot whose string is kept as a JS string (longer, or not one byte per character). */
const WIDE_STRING = 0xfffe;
const LATIN1_MAX = 0xff;
const MIN_BYTES = 8192;

interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

/**
 * A string for each slot of a table, as bytes in one buffer outside the JS heap: a table of a
 * million names would otherwise be a million small strings, which cost twice their bytes and which
 * the collector walks again and again. A string of one byte per character (Latin-1, so every name
 * of ASCII) is kept as its bytes and made again when asked for; any other is kept as it is, by slot.
 * Slots are the table's: it tells when they move (`move`, `squeezed`) and when it grows (`resize`).
 */
export class PackedStrings {
  private starts: Uint32Array;
  private lengths: Uint16Array;
  private bytes = Buffer.alloc(MIN_BYTES);
  private bytesUsed = 0;
  private bytesDead = 0;
  private readonly wide = new Map<number, string>();

  constructor(capacity: number) {
    this.starts = new Uint32Array(capacity);
    this.lengths = new Uint16Array(capacity).fill(NO_STRING);
  }

  has(slot: number): boolean {
    return this.lengths[slot] !== NO_STRING;
  }

  get(slot: number): string | undefined {
    const length = this.lengths[slot] as number;
    if (length === NO_STRING) return undefined;
    if (length === WIDE_STRING) return this.wide.get(slot);
    const start = this.starts[slot] as number;
    // Buffer's own `latin1Slice` (what `toString('latin1')` calls after checking its arguments): half the cost.
    return (this.bytes as unknown as Latin1Slicer).latin1Slice(start, start + length);
  }

  /** Whether the string of `slot` is `text`, without making it. */
  equals(slot: number, text: string): boolean {
    const length = this.lengths[slot] as number;
    if (length >= WIDE_STRING) return length === WIDE_STRING && this.wide.get(slot) === text;
    if (length !== text.length) return false;
    const start = this.starts[slot] as number;
    for (let index = 0; index < length; index += 1) if (this.bytes[start + index] !== text.charCodeAt(index)) return false;
    return true;
  }

  set(slot: number, text: string | undefined): void {
    if (text === undefined || text.length >= WIDE_STRING) {
      this.setWide(slot, text);
      return;
    }
    const length = this.lengths[slot] as number;
    // The same string again writes nothing; a shorter one is written over the old.
    if (length < WIDE_STRING && length >= text.length) {
      const start = this.starts[slot] as number;
      if (length === text.length && this.equals(slot, text)) return;
      if (!this.write(start, text)) {
        this.setWide(slot, text);
        return;
      }
      this.bytesDead += length - text.length;
      this.lengths[slot] = text.length;
      return;
    }
    // Written past the bytes in use first: a string found not to be Latin-1 midway leaves nothing behind.
    if (this.bytesUsed + text.length > this.bytes.length) this.makeRoom(text.length);
    if (!this.write(this.bytesUsed, text)) {
      this.setWide(slot, text);
      return;
    }
    this.clear(slot);
    this.starts[slot] = this.bytesUsed;
    this.lengths[slot] = text.length;
    this.bytesUsed += text.length;
  }

  private setWide(slot: number, text: string | undefined): void {
    this.clear(slot);
    if (text === undefined) return;
    this.lengths[slot] = WIDE_STRING;
    this.wide.set(slot, text);
  }

  clear(slot: number): void {
    const length = this.lengths[slot] as number;
    if (length === WIDE_STRING) this.wide.delete(slot);
    else if (length !== NO_STRING) this.bytesDead += length;
    this.lengths[slot] = NO_STRING;
  }

  /** The slot `from` moves down to `to` (a squeeze); `to` held nothing. */
  move(from: number, to: number): void {
    this.starts[to] = this.starts[from] as number;
    this.lengths[to] = this.lengths[from] as number;
    this.lengths[from] = NO_STRING;
    const wide = this.wide.get(from);
    if (wide !== undefined) {
      this.wide.delete(from);
      this.wide.set(to, wide);
    }
  }

  /** The table squeezed its slots down to `count`: the slots past them hold nothing, and dead bytes go. */
  squeezed(count: number): void {
    this.lengths.fill(NO_STRING, count);
    this.repack(Math.max(MIN_BYTES, (this.bytesUsed - this.bytesDead) * 2), count);
  }

  /** The table's arrays now have `capacity` slots, of which the first `count` are in use. */
  resize(capacity: number, count: number): void {
    const starts = new Uint32Array(capacity);
    const lengths = new Uint16Array(capacity).fill(NO_STRING);
    starts.set(this.starts.subarray(0, count));
    lengths.set(this.lengths.subarray(0, count));
    this.starts = starts;
    this.lengths = lengths;
  }

  /** The buffer is full: repack it without its dead bytes, into a larger one if they are not most of it. */
  private makeRoom(needed: number): void {
    const live = this.bytesUsed - this.bytesDead;
    const size = Math.max(this.bytes.length, Math.ceil((live + needed) * 1.5));
    if (this.bytesDead * 4 >= this.bytesUsed) {
      this.repack(size, this.lengths.length);
      return;
    }
    // Few dead bytes: the same bytes in a larger buffer, in one copy, every start as it was.
    const bytes = Buffer.alloc(size);
    this.bytes.copy(bytes, 0, 0, this.bytesUsed);
    this.bytes = bytes;
  }

  /** Copies the strings of the first `count` slots into a buffer of `size` bytes, in slot order. */
  private repack(size: number, count: number): void {
    const bytes = Buffer.alloc(size);
    let used = 0;
    for (let slot = 0; slot < count; slot += 1) {
      const length = this.lengths[slot] as number;
      if (length >= WIDE_STRING) continue;
      const start = this.starts[slot] as number;
      // Names are short: a loop costs less than a native call each.
      for (let index = 0; index < length; index += 1) bytes[used + index] = this.bytes[start + index] as number;
      this.starts[slot] = used;
      used += length;
    }
    this.bytes = bytes;
    this.bytesUsed = used;
    this.bytesDead = 0;
  }

  /** Writes `text` as one byte per character at `start`; false (bytes written so far left as they are) when it is not Latin-1. */
  private write(start: number, text: string): boolean {
    const { bytes } = this;
    for (let index = 0; index < text.length; index += 1) {
      const code = text.charCodeAt(index);
      if (code > LATIN1_MAX) return false;
      bytes[start + index] = code;
    }
    return true;
  }
}
