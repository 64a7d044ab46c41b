import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rename, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, expect } from 'vitest';

export { capturingLogger } from '../helpers/logging.js';
export { manualClock } from '../helpers/clock.js';

/** Every secret a test file used, so its logs can be checked against all of them at the end. */
export class SecretRegistry {
  private readonly secrets = new Set<string>();

  add<T extends string>(secret: T): T {
    this.secrets.add(secret);
    return secret;
  }

  /** A random opaque bearer token of `length` characters (base64url). */
  token(length = 40): string {
    return this.add(randomBytes(length).toString('base64url').slice(0, length));
  }

  leaks(lines: readonly string[]): string[] {
    return lines.filter((line) => [...this.secrets].some((secret) => line.includes(secret)));
  }
}

/** After the calling file's tests: its log said something, and none of the secrets they used. */
export function expectNoSecretLoggedAfterAll(secrets: SecretRegistry, log: { readonly lines: readonly string[] }): void {
  afterAll(() => {
    expect(log.lines.length).toBeGreaterThan(0);
    expect(secrets.leaks(log.lines)).toEqual([]);
  });
}

export async function signedJwt(expiresAtSeconds: number, secret = 'test-secret-that-is-long-enough-for-hs256'): Promise<string> {
  return new SignJWT({ sub: 'tester' })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime(expiresAtSeconds)
    .setIssuedAt()
    .setJti(randomBytes(8).toString('hex'))
    .sign(new TextEncoder().encode(secret));
}

/** Replaces `path` whole: write a sibling, then rename over it (what most secret writers do). */
export async function writeAtomically(path: string, content: string): Promise<void> {
  const temporary = `${path}.tmp-${randomBytes(4).toString('hex')}`;
  await writeFile(temporary, content);
  await rename(temporary, path);
}

/** A FIFO at `path` (`mkfifo`: Node has no call for it), as a misconfigured secret path may be. */
export function makeFifo(path: string): void {
  execFileSync('mkfifo', ['-m', '600', path]);
}

/**
 * A Kubernetes Secret volume: `dir/..<version>/name` holds the data, `dir/..data` links to the
 * current version and `dir/name` links to `..data/name`. An update writes a new version directory
 * and swaps `..data` by renaming a new symlink over it.
 */
export class KubernetesSecretVolume {
  private version = 0;

  constructor(
    readonly dir: string,
    readonly name: string,
  ) {}

  get path(): string {
    return join(this.dir, this.name);
  }

  async create(content: string): Promise<void> {
    const versionDir = await this.writeVersion(content);
    await symlink(versionDir, join(this.dir, '..data'));
    await symlink(join('..data', this.name), this.path);
  }

  async update(content: string): Promise<void> {
    const versionDir = await this.writeVersion(content);
    const next = join(this.dir, '..data_tmp');
    await symlink(versionDir, next);
    await rename(next, join(this.dir, '..data'));
  }

  private async writeVersion(content: string): Promise<string> {
    this.version += 1;
    const versionDir = `..2026_11_23_10_00_00.${this.version}`;
    await mkdir(join(this.dir, versionDir));
    await writeFile(join(this.dir, versionDir, this.name), content);
    return versionDir;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

