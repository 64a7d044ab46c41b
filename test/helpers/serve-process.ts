import { waitUntil } from './mount.js';
import { startCli } from './processes.js';

/** A `bucketfs serve` child process, with the URL and port it printed. */
export interface Served {
  readonly url: string;
  readonly port: number;
  readonly child: ReturnType<typeof startCli>['child'];
}

/** Starts `bucketfs serve --data DIR` as a child process and waits for its URL (port 0: any free one). */
export async function startServe(dataDir: string, extra: readonly string[] = [], port = 0): Promise<Served> {
  const started = startCli(['serve', '--data', dataDir, '--port', String(port), '--log-level', 'error', ...extra]);
  await waitUntil(() => /serving .* on http:\/\/\S+:\d+\n/.test(started.output()) || started.child.exitCode !== null, 15_000, 'serve to start');
  const match = /on (http:\/\/\S+:(\d+))/.exec(started.output());
  if (!match?.[1] || !match[2]) throw new Error(`serve did not start: ${started.output()}`);
  return { url: match[1], port: Number(match[2]), child: started.child };
}
