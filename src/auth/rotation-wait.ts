import { watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from 'pino';

export interface RotationWaitOptions {
  /** The files whose change ends the wait; their folders are watched. */
  readonly paths: readonly string[];
  /** Checks the files now and tells whether the credentials differ from the refused ones. */
  readonly check: () => Promise<boolean>;
  readonly pollIntervalMs: number;
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/**
 * Waits for a rotation that is late. Each file's folder is watched, which sees a rename over the file and a
 * Kubernetes `..data` symlink swap as they happen; a check at the poll interval is the safety net for what a
 * watch misses (a network filesystem, a folder that cannot be watched, a symlink into another folder).
 * `done` resolves true once `check` says the credentials changed, false when the time is up or on `stop`.
 */
export class RotationWait {
  readonly done: Promise<boolean>;
  private resolveDone: (changed: boolean) => void = () => {};
  private readonly watchers: FSWatcher[] = [];
  private readonly pollTimer: NodeJS.Timeout;
  private readonly deadlineTimer: NodeJS.Timeout;
  private checking = false;
  private checkAgain = false;
  private finished = false;

  constructor(private readonly options: RotationWaitOptions) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    for (const folder of new Set(options.paths.map((path) => dirname(path)))) this.watchFolder(folder);
    this.pollTimer = setInterval(() => this.runCheck(), options.pollIntervalMs);
    this.deadlineTimer = setTimeout(() => this.stop(false), options.timeoutMs);
  }

  /** Ends the wait (idempotent): `changed` is what `done` resolves with. */
  stop(changed: boolean): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.deadlineTimer);
    for (const watcher of this.watchers) watcher.close();
    this.resolveDone(changed);
  }

  private watchFolder(folder: string): void {
    try {
      const watcher = watch(folder, { persistent: false }, () => this.runCheck());
      watcher.on('error', (error) => {
        this.options.logger.debug({ folder, err: error }, 'watching the credentials folder failed; the periodic check goes on');
        watcher.close();
      });
      this.watchers.push(watcher);
    } catch (error) {
      this.options.logger.debug({ folder, err: error }, 'cannot watch the credentials folder; relying on the periodic check');
    }
  }

  /** One check at a time; events during a check ask for one more, so the last write of a burst is seen. */
  private runCheck(): void {
    if (this.finished) return;
    if (this.checking) {
      this.checkAgain = true;
      return;
    }
    this.checking = true;
    this.options
      .check()
      .then((changed) => {
        if (changed) this.stop(true);
      })
      .catch((error: unknown) => this.options.logger.debug({ err: error }, 'checking the credentials files failed'))
      .finally(() => {
        this.checking = false;
        if (this.checkAgain) {
          this.checkAgain = false;
          this.runCheck();
        }
      });
  }
}
