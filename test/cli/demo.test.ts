// `weft demo` runs to completion with its checks passing and leaves nothing
// behind: no namespace, no process, no table file, no temporary directory.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { e2eUnavailable, sh } from '../helpers/netns';

const kMain = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const skip = e2eUnavailable();

function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = sh('cat', [`/proc/${pid}/cmdline`]).replace(/\0/g, ' ');
      if (cmd.includes(text) && !cmd.includes('cat /proc')) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone
    }
  }
  return found;
}

test('weft demo builds 3 hosts, reaches every pod, moves a checked transfer, and removes everything', { skip }, () => {
  const shmFiles = (): string[] => (existsSync('/dev/shm/weft') ? readdirSync('/dev/shm/weft') : []);
  const shmBefore = new Set(shmFiles());
  const r = spawnSync(process.execPath, [kMain, 'demo', '--hosts', '3', '--mbytes', '32'], { encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `demo failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /✓ identical/);
  assert.match(r.stdout, /✓ every pod reached every other pod/);
  // Three distinct leases were shown.
  const leases = [...r.stdout.matchAll(/^\s+h\d\s+198\.18\.0\.\d\s+(10\.244\.\d+\.0\/24)/gm)].map((m) => m[1]);
  assert.equal(new Set(leases).size, 3, r.stdout);

  const dir = /store: (\S+)\/data/.exec(r.stdout)?.[1];
  assert.ok(dir, 'the demo names its store directory');
  assert.equal(existsSync(dir!), false, `${dir} was removed`);
  const prefix = `weft-demo-${r.pid}`;
  assert.deepEqual(
    sh('ip', ['netns', 'list'])
      .split('\n')
      .filter((l) => l.includes(prefix)),
    [],
    'no namespace left',
  );
  assert.deepEqual(processesMentioning(dir!), [], 'no process left');
  const shmAfter = shmFiles().filter((f) => !shmBefore.has(f));
  assert.deepEqual(shmAfter, [], 'no table file left');
});

test('weft demo rejects a bad option with exit code 2 and says which', () => {
  const r = spawnSync(process.execPath, [kMain, 'demo', '--backend', 'gre'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--backend must be vxlan or udp, got "gre"/);
});
