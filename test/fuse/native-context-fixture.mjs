// node --expose-gc native-context-fixture.mjs ADDON MOUNTPOINT_A MOUNTPOINT_B
// Mounts with the addon itself (no core: nothing asks the mounts anything) and prints, as JSON, how
// many mount contexts are alive at each step. A: the JS handle is collected while mounted, then the
// session ends. B: the session ends while JS still holds the handle, which it then drops.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';

const [addonPath, mountpointA, mountpointB] = process.argv.slice(2);
const addon = createRequire(import.meta.url)(addonPath);
const OP_ENDED = 100;
const OP_INITIALIZED = 101;
const STEP_TIMEOUT_MS = 10_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check, what) {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    global.gc();
    await sleep(10);
  }
}

/** Mounts; the dispatcher keeps nothing of the context, so only the caller's reference holds the handle. */
function mount(mountpoint) {
  const state = { initialized: false, ended: false };
  const dispatch = (op) => {
    if (op === OP_INITIALIZED) state.initialized = true;
    if (op === OP_ENDED) state.ended = true;
  };
  const options = { fsname: 'bucketfs#context-test', subtype: 'bucketfs', allowOther: false, attrTimeoutS: 0, entryTimeoutS: 0, maxThreads: 2 };
  return { context: addon.mount(mountpoint, options, dispatch), state };
}

function unmount(mountpoint) {
  return new Promise((resolve, reject) => {
    const child = spawn('fusermount3', ['-uz', mountpoint], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`fusermount3 -uz ${mountpoint}: exit ${code}`))));
  });
}

const report = {};

// A: collected while mounted.
{
  let { context, state } = mount(mountpointA);
  await until(() => state.initialized, 'INIT (A)');
  let collected = false;
  const registry = new FinalizationRegistry(() => (collected = true));
  registry.register(context, 'A');
  context = undefined;
  await until(() => collected, 'the JS handle to be collected (A)');
  await sleep(50); // the addon's finalizer of the handle runs from the event loop after the collection
  report.aCollectedWhileMounted = addon.liveContexts();
  await unmount(mountpointA);
  await until(() => state.ended, 'the session to end (A)');
  await until(() => addon.liveContexts() === 0, 'the context to be freed (A)');
  report.aAfterEnd = addon.liveContexts();
}

// B: held past the end of the session.
{
  let { context, state } = mount(mountpointB);
  await until(() => state.initialized, 'INIT (B)');
  await unmount(mountpointB);
  await until(() => state.ended, 'the session to end (B)');
  await sleep(50); // the thread-safe function is finalized after its last call
  report.bEndedWhileHeld = addon.liveContexts();
  report.bStatsAfterEnd = addon.stats(context).ended;
  let collected = false;
  const registry = new FinalizationRegistry(() => (collected = true));
  registry.register(context, 'B');
  context = undefined;
  await until(() => collected, 'the JS handle to be collected (B)');
  await until(() => addon.liveContexts() === 0, 'the context to be freed (B)');
  report.bAfterDrop = addon.liveContexts();
}

process.stdout.write(`${JSON.stringify(report)}\n`);
