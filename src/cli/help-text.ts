/** Defaults as `--help` and errors show them, from the constants the code uses: `60s`, `500ms`, `8MiB`, `0444`. */

export function durationText(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 600_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

export function sizeText(bytes: number): string {
  const units: readonly [string, number][] = [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]];
  for (const [unit, size] of units) if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  return `${bytes}`;
}

export function modeText(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}
