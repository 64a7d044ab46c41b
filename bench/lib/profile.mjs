// Where the mount's JS thread spends its time: V8 .cpuprofile files (node --cpu-prof) summed by function.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Self time per function in one profile, in ms: `{ "name file:line": ms }`. Pure.
 * A sample's time is its timeDelta; it is charged to the node the sample landed in.
 */
export function selfTimeByFunction(profile, into = {}) {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  profile.samples.forEach((nodeId, index) => {
    const frame = nodes.get(nodeId)?.callFrame;
    if (!frame) return;
    const file = frame.url ? frame.url.replace(/^.*\/(dist|node_modules)\//, '$1/') : '';
    const key = `${frame.functionName || '(anonymous)'}${file ? ` ${file}:${frame.lineNumber + 1}` : ''}`;
    into[key] = (into[key] ?? 0) + (profile.timeDeltas[index] ?? 0) / 1000;
  });
  return into;
}

/** Samples where the thread waited: not time spent on anything. */
const IDLE = '(idle)';

/** The `count` functions with the most self time, with their share of the busy (non-idle) time. Pure. */
export function topFunctions(selfTimes, count) {
  const busy = Object.entries(selfTimes).filter(([name]) => name !== IDLE);
  const totalMs = busy.reduce((sum, [, ms]) => sum + ms, 0);
  return busy
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), share: totalMs > 0 ? ms / totalMs : 0 }));
}

/** `CPU.20261123.113251.29382.0.001.cpuprofile` → 29382 (node's default profile name holds the pid). Pure. */
export function pidOfProfile(fileName) {
  const match = /^CPU\.\d+\.\d+\.(\d+)\./.exec(fileName);
  return match ? Number(match[1]) : undefined;
}

/**
 * Sums the .cpuprofile files in `dir` of the processes in `pids` (the mount processes, not the
 * short-lived `bucketfs mount` launchers that wrote profiles there too).
 */
export function summarizeProfiles(dir, pids, count = 15) {
  const selfTimes = {};
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile') && pids.has(pidOfProfile(name)));
  for (const name of files) selfTimeByFunction(JSON.parse(readFileSync(join(dir, name), 'utf8')), selfTimes);
  const idleMs = selfTimes[IDLE] ?? 0;
  const busyMs = Object.values(selfTimes).reduce((sum, ms) => sum + ms, 0) - idleMs;
  return { profiles: files.length, busyMs: Math.round(busyMs), idleMs: Math.round(idleMs), top: topFunctions(selfTimes, count) };
}
