// The README's library example runs: it is cut out of README.md as it stands
// and executed as an ES module that imports 'weft' (this repository), inside
// a namespace whose underlay address is the example's publicIp.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';

const kRoot = join(__dirname, '..', '..', '..');
const skip = e2eUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'weft-readme-'));
const spaces: Netns[] = [];
after(async () => {
  for (const ns of spaces) await ns.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function example(name: string): string {
  const readme = readFileSync(join(kRoot, 'README.md'), 'utf8');
  const m = new RegExp(`<!-- example:${name}[^>]*-->\\s*\`\`\`js\\n([\\s\\S]*?)\`\`\``).exec(readme);
  assert.ok(m, `README has the ${name} example`);
  return m[1]!;
}

test('the README library example runs and prints the table and counters', { skip }, async () => {
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(kRoot, join(dir, 'node_modules', 'weft'));
  writeFileSync(join(dir, 'example.mjs'), example('library'));
  const a = new Netns('readmea');
  const b = new Netns('readmeb');
  spaces.push(a, b);
  underlay([a, b]);
  const r = spawnSync('ip', ['netns', 'exec', a.name, process.execPath, join(dir, 'example.mjs')], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /our VtepMAC [0-9a-f]{2}(:[0-9a-f]{2}){5}/);
  assert.match(r.stdout, /subnet: '10\.244\.2\.0\/24'/);
  assert.match(r.stdout, /vtepMac: '0e:2a:0a:f4:02:00'/);
  assert.match(r.stdout, /vnetHdr: true/);
});

test("the README documents every command weft --help lists, with the command's name and at least one of its flags", () => {
  const readme = readFileSync(join(kRoot, 'README.md'), 'utf8');
  const main = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' }).stdout;
  const commands = [...help.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 6, help);
  for (const cmd of commands) {
    assert.ok(readme.includes(`weft ${cmd}`), `README mentions \`weft ${cmd}\``);
    const flags = [...spawnSync(process.execPath, [main, cmd, '--help'], { encoding: 'utf8' }).stdout.matchAll(/^ {2}(--[a-z0-9-]+)/gm)];
    assert.ok(flags.length > 0, `weft ${cmd} --help lists flags`);
    assert.ok(
      flags.some((f) => readme.includes(f[1]!)),
      `README names one of weft ${cmd}'s flags (${flags.map((f) => f[1]).join(' ')})`,
    );
  }
});
