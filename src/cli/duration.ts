const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `500ms`, `30s`, `15m`, `1h`, `2d`, `1.5h`, or a bare number of milliseconds (`0`), into milliseconds.
 * Throws an Error naming the bad value.
 */
export function parseDurationMs(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(text.trim());
  if (!match?.[1]) throw new Error(`invalid duration "${text}": expected a number with a unit (500ms, 30s, 15m, 1h, 2d)`);
  const valueMs = Number(match[1]) * (UNIT_MS[match[2] ?? 'ms'] ?? 1);
  if (!Number.isFinite(valueMs) || valueMs > Number.MAX_SAFE_INTEGER) throw new Error(`invalid duration "${text}": too large`);
  return Math.round(valueMs);
}
