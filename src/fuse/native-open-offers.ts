import type { FileAttr, InodeFilesystem } from '../fs/types.js';
import { OPEN_OFFER_NUMBERS, type NativeAddon, type NativeContext } from './native-addon.js';

/** A core that may let the engine open some files alone (see `OpenOffer`). */
export type OfferingCore = Pick<InodeFilesystem, 'openOfferByIno'>;

/**
 * The offers of the files in one answer (a lookup's entry, a listing's batch), handed to the engine in one call
 * before the answer, so that the kernel's open of any of them finds its offer there.
 */
export class OpenOfferBatch {
  private readonly numbers: number[] = [];
  private readonly texts: string[] = [];

  constructor(private readonly fs: OfferingCore) {}

  /** Adds the offer of `attr`'s file, if the core makes one. */
  add(attr: FileAttr): void {
    if (attr.kind !== 'file' || this.fs.openOfferByIno === undefined) return;
    const offer = this.fs.openOfferByIno(attr.ino);
    if (offer === undefined || offer.validForMs <= 0 || offer.path.includes('\0') || offer.key.includes('\0')) return;
    this.numbers.push(attr.ino, offer.dataBytes, offer.validForMs / 1000, offer.keepCache ? 1 : 0);
    this.texts.push(offer.path, '\0', offer.key, '\0');
  }

  /** Hands the offers to the engine; nothing when there are none. */
  send(addon: NativeAddon, context: NativeContext): void {
    if (this.numbers.length === 0) return;
    addon.offerOpens(context, Float64Array.from(this.numbers), this.texts.join(''));
  }

  get size(): number {
    return this.numbers.length / OPEN_OFFER_NUMBERS;
  }
}
