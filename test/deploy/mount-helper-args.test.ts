import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerMountCommand } from '../../src/cli/mount-command.js';
import { helperToMountArgs, isHelperCall, splitOptionString, type MountFlagSpec } from '../../src/cli/mount-helper-args.js';
import { runCli } from '../helpers/processes.js';

/** The mount command's own flags, as the CLI derives them. */
function mountFlags(): MountFlagSpec[] {
  const program = new Command('bucketfs');
  registerMountCommand(program);
  const mount = program.commands.find((command) => command.name() === 'mount');
  return (mount?.options ?? []).flatMap((option) => (option.long === undefined ? [] : [{ long: option.long, takesValue: option.required || option.optional }]));
}

const flags = mountFlags();
const helper = (args: string[]) => helperToMountArgs(args, flags).mountArgs;

describe('mount helper arguments', () => {
  it('maps each -o option onto the mount flag of the same name', () => {
    expect(helper(['ais://train/imgs', '/mnt/x', '-o', 'endpoint=http://h:51080,token_file=/run/t,allow_delete,metadata_ttl=5s'])).toEqual([
      'mount', 'ais://train/imgs', '/mnt/x', '--endpoint', 'http://h:51080', '--token-file', '/run/t', '--allow-delete', '--metadata-ttl', '5s',
    ]);
  });

  it('covers every flag of the mount command, with _ or - for the dashes', () => {
    for (const flag of flags.filter((spec) => !['--config'].includes(spec.long))) {
      const name = flag.long.slice(2).replace(/-/g, '_');
      const option = flag.takesValue ? `${name}=v` : name;
      expect(helper(['ais://b', '/m', '-o', option]).slice(3)).toEqual(flag.takesValue ? [flag.long, 'v'] : [flag.long]);
      expect(helper(['ais://b', '/m', '-o', option.replace(/_/g, '-')]).slice(3)).toEqual(flag.takesValue ? [flag.long, 'v'] : [flag.long]);
    }
  });

  it("ignores or maps mount(8)'s generic options", () => {
    const generic = 'rw,nosuid,nodev,noexec,_netdev,nofail,noauto,auto,user,users,defaults,relatime,x-systemd.automount,x-systemd.mount-timeout=30,comment=foo,user=alice';
    expect(helper(['ais://b', '/m', '-o', generic])).toEqual(['mount', 'ais://b', '/m']);
    expect(helper(['ais://b', '/m', '-o', 'ro'])).toEqual(['mount', 'ais://b', '/m', '--read-only']);
    // mount(8)'s own flags: -n (no mtab) and -s (sloppy) change nothing, -v logs more, -t names the type.
    expect(helper(['ais://b', '/m', '-n', '-s', '-v', '-o', 'rw', '-t', 'fuse.bucketfs'])).toEqual(['mount', 'ais://b', '/m', '--log-level', 'info']);
    expect(helperToMountArgs(['ais://b', '/m', '-f', '-o', 'rw'], flags).fake).toBe(true);
  });

  it('takes the legacy bucketfs#ais://… source and quoted values', () => {
    expect(helper(['bucketfs#ais://b', '/m', '-oheader="X-A: 1,2"'])).toEqual(['mount', 'ais://b', '/m', '--header', 'X-A: 1,2']);
    expect(splitOptionString('a,b="c,d",e')).toEqual(['a', 'b=c,d', 'e']);
  });

  it('refuses an unknown option, a missing value and a value for a switch, naming them', () => {
    expect(() => helper(['ais://b', '/m', '-o', 'rw,metadata_tll=5s'])).toThrow(/unknown mount option "metadata_tll"/);
    expect(() => helper(['ais://b', '/m', '-o', 'endpoint'])).toThrow(/endpoint needs a value/);
    expect(() => helper(['ais://b', '/m', '-o', 'allow_delete=yes'])).toThrow(/allow_delete takes no value/);
    expect(() => helper(['ais://b', '/m', '-o', 'config=/etc/x'])).toThrow(/unknown mount option "config"/);
    expect(() => helper(['ais://b'])).toThrow(/expected SOURCE MOUNTPOINT/);
  });

  it('tells a helper call from a command', () => {
    const commands = ['mount', 'serve'];
    expect(isHelperCall('/usr/bin/bucketfs', ['ais://b', '/m', '-o', 'rw'], commands)).toBe(true);
    expect(isHelperCall('/usr/bin/bucketfs', ['bucketfs#b', '/m'], commands)).toBe(true);
    expect(isHelperCall('/sbin/mount.bucketfs', ['b', '/m'], commands)).toBe(true);
    expect(isHelperCall('/usr/bin/bucketfs', ['mount', 'ais://b', '/m'], commands)).toBe(false);
    expect(isHelperCall('/usr/bin/bucketfs', ['serev'], commands)).toBe(false);
  });

  it('fails a bad helper call with one line and status 2', async () => {
    const result = await runCli(['ais://b', '/nonexistent-mountpoint', '-o', 'rw,nosuch=1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('bucketfs: unknown mount option "nosuch" (in -o); see bucketfs mount --help, with - or _ for the dashes\n');
  });
});
