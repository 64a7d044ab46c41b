// The objects of bench/scale.mjs: a flat folder and a tree of folders of empty objects, written straight into the
// server's data folder (no PUTs) and reused while their marker says they are complete.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import { BUCKET } from './dataset.mjs';

const LAYOUT_VERSION = 1;
const YIELD_EVERY_FILES = 10_000;

const padded = (index, count) => String(index).padStart(String(Math.max(count - 1, 0)).length, '0');

/** One folder of `objects` objects: `flat-N/f-…`. */
export function flatLayout(objects) {
  return { version: LAYOUT_VERSION, prefix: `flat-${objects}/`, folders: 0, perFolder: objects };
}

/** `folders` folders of `perFolder` objects each: `tree-FxP/d-…/f-…`. */
export function treeLayout(folders, perFolder) {
  return { version: LAYOUT_VERSION, prefix: `tree-${folders}x${perFolder}/`, folders, perFolder };
}

export const objectCount = (layout) => Math.max(layout.folders, 1) * layout.perFolder;

/** The folders holding the objects, relative to the bucket: the prefix itself for a flat layout. */
function leafFolders(layout) {
  if (layout.folders === 0) return [layout.prefix];
  return Array.from({ length: layout.folders }, (_, index) => `${layout.prefix}d-${padded(index, layout.folders)}/`);
}

const markerPath = (markerDir, layout) => join(markerDir, `${layout.prefix.slice(0, -1)}.json`);

/**
 * Makes sure `dataDir/bench/<prefix>` holds `layout`: reused when its marker (in `markerDir`, outside the
 * served data, so it is no object) matches, else written again. Creating empty files one after another is as fast
 * as a concurrent writer here (tens of thousands a second, bound by the kernel); the event loop gets a turn now and
 * then so that Ctrl-C is handled. Returns `{ reused, seconds, objects }`.
 */
export async function ensureLayout(dataDir, markerDir, layout, say) {
  const objects = objectCount(layout);
  const marker = markerPath(markerDir, layout);
  const bucketDir = join(dataDir, BUCKET);
  if (existsSync(marker) && readFileSync(marker, 'utf8') === JSON.stringify(layout) && existsSync(join(bucketDir, layout.prefix))) {
    say(`dataset: reusing ${objects.toLocaleString('en-US')} objects in ${join(bucketDir, layout.prefix)}`);
    return { reused: true, seconds: 0, objects };
  }
  rmSync(marker, { force: true });
  say(`dataset: writing ${objects.toLocaleString('en-US')} empty objects to ${join(bucketDir, layout.prefix)}`);
  const started = performance.now();
  for (const folder of leafFolders(layout)) {
    const dir = join(bucketDir, folder);
    mkdirSync(dir, { recursive: true });
    for (let index = 0; index < layout.perFolder; index += 1) {
      closeSync(openSync(join(dir, `f-${padded(index, layout.perFolder)}.bin`), 'w'));
      if (index % YIELD_EVERY_FILES === YIELD_EVERY_FILES - 1) await yieldToEvents();
    }
    await yieldToEvents();
  }
  mkdirSync(markerDir, { recursive: true });
  writeFileSync(marker, JSON.stringify(layout));
  const seconds = (performance.now() - started) / 1000;
  say(`dataset: ${objects.toLocaleString('en-US')} objects written in ${seconds.toFixed(1)} s (${Math.round(objects / seconds).toLocaleString('en-US')}/s)`);
  return { reused: false, seconds, objects };
}
