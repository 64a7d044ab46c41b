import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/processes.js';

/*
 * The README's command reference names every flag each command's --help lists (the built CLI: run
 * `npx tsc` first), in that command's section, with a default column.
 */
const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** The README text from the `### \`bucketfs CMD` heading to the next heading of the same level. */
function sectionOf(readme: string, command: string): string {
  const start = readme.indexOf(`### \`bucketfs ${command}`);
  if (start < 0) return '';
  const next = readme.indexOf('\n### ', start + 1);
  const nextChapter = readme.indexOf('\n## ', start + 1);
  const ends = [next, nextChapter].filter((index) => index > 0);
  return readme.slice(start, ends.length > 0 ? Math.min(...ends) : undefined);
}

function flagsOfHelp(help: string): string[] {
  const options = help.slice(help.indexOf('Options:'));
  return [...new Set([...options.matchAll(/(?:^|\s)(--[a-z][a-z-]*)/g)].map((match) => match[1] ?? ''))].filter((flag) => flag !== '--help');
}

describe('README command reference', () => {
  it.each(['mount', 'unmount', 'status', 'serve', 'token', 'demo'])('documents every flag of `bucketfs %s --help`', async (command) => {
    const [readme, help] = await Promise.all([readFile(README, 'utf8'), runCli([command, '--help'])]);
    expect(help.code).toBe(0);
    const flags = flagsOfHelp(help.stdout);
    expect(flags.length).toBeGreaterThan(0);
    const section = sectionOf(readme, command);
    expect(section).toContain('| flag | default | meaning |');
    // Named in the first cell of a table row, as itself (`--token-file` does not count for `--token`).
    const firstCells = section.split('\n').filter((line) => line.startsWith('| `')).map((line) => line.split('|')[1] ?? '');
    expect(flags.filter((flag) => !firstCells.some((cell) => new RegExp(`\`${flag}[\` ]`).test(cell)))).toEqual([]);
  });
});
