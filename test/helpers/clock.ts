/** A controllable clock for TTL and check-interval tests. */
export function manualClock(startMs = Date.now()): { now: () => number; advance: (ms: number) => void } {
  let current = startMs;
  return { now: () => current, advance: (ms) => void (current += ms) };
}
