import type { Logger } from 'pino';

/**
 * Warns once per distinct subject (an illegal object name seen in every `ls`), and at most
 * `maxPerWindow` times per window overall, so a bucket full of bad names cannot flood the log.
 * The set of subjects already warned about is bounded; past it, old subjects may warn again.
 */
export class WarnOnce {
  private readonly warned = new Set<string>();
  private windowStartMs = 0;
  private countInWindow = 0;
  private suppressed = 0;

  constructor(
    private readonly logger: Logger,
    private readonly now: () => number,
    private readonly maxSubjects = 10_000,
    private readonly maxPerWindow = 20,
    private readonly windowMs = 60_000,
  ) {}

  warn(subject: string, fields: Record<string, unknown>, message: string): void {
    if (this.warned.has(subject)) return;
    if (this.warned.size >= this.maxSubjects) this.warned.clear();
    this.warned.add(subject);
    const nowMs = this.now();
    if (nowMs - this.windowStartMs >= this.windowMs) {
      if (this.suppressed > 0) this.logger.warn({ suppressed: this.suppressed }, 'warnings suppressed by rate limit');
      this.windowStartMs = nowMs;
      this.countInWindow = 0;
      this.suppressed = 0;
    }
    if (this.countInWindow >= this.maxPerWindow) {
      this.suppressed += 1;
      return;
    }
    this.countInWindow += 1;
    this.logger.warn(fields, message);
  }
}
