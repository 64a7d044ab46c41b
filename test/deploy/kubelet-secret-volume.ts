import { randomInt } from 'node:crypto';
import { chmod, mkdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** kubelet's name of the link to the current data, and of the link made beside it before the swap. */
const DATA_LINK = '..data';
const DATA_LINK_TMP = '..data_tmp';

/** `..2006_01_02_15_04_05.` in UTC, then a random number, as kubelet's os.MkdirTemp pattern makes it. */
function timestampedName(now = new Date()): string {
  const two = (value: number) => String(value).padStart(2, '0');
  const stamp = `${now.getUTCFullYear()}_${two(now.getUTCMonth() + 1)}_${two(now.getUTCDate())}_${two(now.getUTCHours())}_${two(now.getUTCMinutes())}_${two(now.getUTCSeconds())}`;
  return `..${stamp}.${randomInt(1_000_000_000, 4_000_000_000)}`;
}

/**
 * A Secret volume laid out and updated exactly as kubelet's AtomicWriter does: the keys' files live in a
 * timestamped folder `..2026_12_01_11_52_03.2837465812`, `..data` links to it, and each key is a link
 * `KEY -> ..data/KEY`. An update writes a new timestamped folder, makes `..data_tmp` link to it, renames that
 * over `..data` (the atomic swap), then removes the old folder.
 */
export class KubeletSecretVolume {
  constructor(
    readonly dir: string,
    /** The file mode of every key (the volume's `defaultMode`). */
    readonly defaultMode = 0o644,
  ) {}

  path(key: string): string {
    return join(this.dir, key);
  }

  /** The volume's first content (kubelet's first sync), or an update of it. */
  async write(payload: Readonly<Record<string, string>>): Promise<void> {
    const previous = await readlink(join(this.dir, DATA_LINK)).catch(() => undefined);
    const folder = timestampedName();
    await mkdir(join(this.dir, folder), { mode: 0o755 });
    for (const [key, content] of Object.entries(payload)) {
      await writeFile(join(this.dir, folder, key), content);
      await chmod(join(this.dir, folder, key), this.defaultMode);
    }
    await symlink(folder, join(this.dir, DATA_LINK_TMP));
    await rename(join(this.dir, DATA_LINK_TMP), join(this.dir, DATA_LINK));
    for (const key of Object.keys(payload)) {
      await symlink(join(DATA_LINK, key), this.path(key)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
    if (previous !== undefined) await rm(join(this.dir, previous), { recursive: true, force: true });
  }
}
