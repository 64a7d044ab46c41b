// A process's resident memory, read from /proc/PID/status: now (VmRSS), its peak (VmHWM), and sampled over a run.
import { readFileSync, writeFileSync } from 'node:fs';

const KiB = 1024;

/** A `Name:   N kB` field of /proc/PID/status, in bytes; undefined when absent. Pure. */
export function statusFieldBytes(text, name) {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
  return match ? Number(match[1]) * KiB : undefined;
}

/** `{ rssBytes, peakBytes }` of `pid`, or undefined once it is gone. */
export function memoryOf(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssBytes: statusFieldBytes(text, 'VmRSS'), peakBytes: statusFieldBytes(text, 'VmHWM') };
  } catch {
    return undefined;
  }
}

/** Sets VmHWM back to the present RSS (`echo 5 > /proc/PID/clear_refs`, root only). Returns false when not allowed. */
export function resetPeak(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Watches `pid` from now on: VmHWM is reset, and VmRSS sampled every `intervalMs` as well (the peak still holds
 * when the reset is not allowed). `stop()` returns `{ peakBytes, rssBytes, samples }`.
 */
export function watchMemory(pid, intervalMs = 200) {
  const peakWasReset = resetPeak(pid);
  let sampledPeak = memoryOf(pid)?.rssBytes ?? 0;
  let samples = 1;
  const timer = setInterval(() => {
    const rss = memoryOf(pid)?.rssBytes;
    if (rss === undefined) return;
    samples += 1;
    sampledPeak = Math.max(sampledPeak, rss);
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      const now = memoryOf(pid);
      const peaks = [sampledPeak, now?.rssBytes ?? 0, peakWasReset ? (now?.peakBytes ?? 0) : 0];
      return { peakBytes: Math.max(...peaks), rssBytes: now?.rssBytes, samples, peakWasReset };
    },
  };
}
