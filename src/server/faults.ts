import { HttpError } from './errors.js';

export const FAULT_KINDS = ['reset', '500', '503', 'slow'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Injected failures, for tests and for anyone checking their own setup against a flaky store. */
export interface FaultOptions {
  /** Probability (0–1) that an object, listing or bucket request gets a fault. Health is never faulted. */
  readonly rate: number;
  /** Delay of a `slow` fault. Default 1000 ms. */
  readonly latencyMs?: number;
  /** Which faults to pick from (uniformly). Default all. */
  readonly kinds?: readonly FaultKind[];
  /** Seed of the pseudo-random sequence, for repeatable runs. Default: random. */
  readonly seed?: number;
}

export const DEFAULT_FAULT_LATENCY_MS = 1000;

/** Parses `reset,500,slow`; throws naming the first unknown kind. */
export function parseFaultKinds(text: string): FaultKind[] {
  const kinds = text.split(',').map((part) => part.trim()).filter((part) => part !== '');
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind)) {
      throw new Error(`unknown fault kind "${kind}": expected some of ${FAULT_KINDS.join(', ')}`);
    }
  }
  if (kinds.length === 0) throw new Error(`no fault kinds given: expected some of ${FAULT_KINDS.join(', ')}`);
  return kinds as FaultKind[];
}

/** mulberry32: a tiny seeded generator, uniform in [0, 1). Quality is ample for picking faults. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** What the handler does about one request. */
export type FaultAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'reset-before-headers' }
  | { readonly kind: 'reset-mid-body'; readonly cutFraction: number }
  | { readonly kind: 'status'; readonly status: 500 | 503 }
  | { readonly kind: 'slow'; readonly delayMs: number };

export class FaultInjector {
  private readonly random: () => number;
  private readonly kinds: readonly FaultKind[];
  private readonly latencyMs: number;
  private readonly rate: number;
  private injectedCount = 0;

  constructor(options: FaultOptions) {
    if (!(options.rate >= 0 && options.rate <= 1)) throw new Error(`fault rate ${options.rate} is not between 0 and 1`);
    this.rate = options.rate;
    this.kinds = options.kinds && options.kinds.length > 0 ? options.kinds : FAULT_KINDS;
    this.latencyMs = options.latencyMs ?? DEFAULT_FAULT_LATENCY_MS;
    this.random = seededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 32));
  }

  /** Faults handed out so far. */
  get injected(): number {
    return this.injectedCount;
  }

  /** Picks the fault (or none) of the next request. */
  next(): FaultAction {
    if (this.rate === 0 || this.random() >= this.rate) return { kind: 'none' };
    this.injectedCount += 1;
    const kind = this.kinds[Math.floor(this.random() * this.kinds.length)] ?? 'reset';
    switch (kind) {
      case 'reset':
        return this.random() < 0.5 ? { kind: 'reset-before-headers' } : { kind: 'reset-mid-body', cutFraction: this.random() };
      case '500':
        return { kind: 'status', status: 500 };
      case '503':
        return { kind: 'status', status: 503 };
      case 'slow':
        return { kind: 'slow', delayMs: this.latencyMs };
    }
  }
}

export function injectedError(status: 500 | 503): HttpError {
  return status === 503
    ? new HttpError(503, 'injected fault: service unavailable', { tcode: 'ErrServiceUnavailable' })
    : new HttpError(500, 'injected fault: internal error', { tcode: 'ErrInternal' });
}
