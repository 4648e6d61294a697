// The package as a user gets it: `npm pack` (its prepack puts the prebuilt
// addon in prebuilds/), then `npm install <tarball>` into a fresh project with
// no compiler (CC/CXX are `false`, so any compile fails), and from there every
// command and the README's library example.

import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';

const kRoot = join(__dirname, '..', '..', '..');
const skip = e2eUnavailable();
const dir = mkdtempSync(join(tmpdir(), 'weft-package-'));
const app = join(dir, 'app');
const installed = join(app, 'node_modules', 'weft');
const spaces: Netns[] = [];

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: app, timeout: 600_000, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${String(r.stdout)}\n${String(r.stderr)}`);
  return { stdout: String(r.stdout), stderr: String(r.stderr) };
}

/**
 * better-sqlite3 (a dependency) downloads its prebuilt binary from GitHub,
 * which a sandboxed CI may not reach; without it it compiles, and here
 * compiling must fail. prebuild-install also takes the same tarball from a
 * local directory, so hand it the binary this checkout already has.
 */
function betterSqlitePrebuild(): string {
  const pkg = join(kRoot, 'node_modules', 'better-sqlite3');
  const { version } = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version: string };
  const stage = join(dir, 'bsq');
  mkdirSync(join(stage, 'build', 'Release'), { recursive: true });
  run('cp', [join(pkg, 'build', 'Release', 'better_sqlite3.node'), join(stage, 'build', 'Release')]);
  const out = join(dir, 'local-prebuilds');
  mkdirSync(out);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  run('tar', ['-C', stage, '-czf', join(out, name), 'build']);
  return out;
}

before(() => {
  if (skip) return;
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'weft-package-test', private: true }));
});
after(async () => {
  for (const ns of spaces) await ns.destroy();
  rmSync(dir, { recursive: true, force: true });
});

test('the packed tarball installs without a compiler and loads its prebuilt addon', { skip }, () => {
  const { stdout } = run('npm', ['pack', '--pack-destination', dir], { cwd: kRoot });
  const tarball = join(dir, stdout.trim().split('\n').pop()!);
  assert.ok(existsSync(tarball), `npm pack wrote ${tarball}`);

  const t0 = Date.now();
  const env = { ...process.env, CC: 'false', CXX: 'false', npm_config_better_sqlite3_local_prebuilds: betterSqlitePrebuild() };
  run('npm', ['install', tarball, '--no-audit', '--no-fund'], { env });
  console.log(`# npm install of the tarball: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const prebuilt = readdirSync(join(installed, 'prebuilds', 'linux-x64'));
  assert.ok(
    prebuilt.some((f) => f.endsWith('.node')),
    `prebuilds/linux-x64 holds ${prebuilt.join(', ')}`,
  );
  assert.equal(existsSync(join(installed, 'build')), false, 'nothing was compiled (no build/ directory)');
  const loaded = run(process.execPath, [
    '-e',
    "const p = require('node-gyp-build').path(require('path').dirname(require.resolve('weft/package.json'))); require(p); console.log(p)",
  ]).stdout.trim();
  assert.match(loaded, /node_modules\/weft\/prebuilds\/linux-x64\/[^/]+\.node$/);
});

test('weft --help and weft table --help run from the installed package', { skip }, () => {
  assert.match(run('npx', ['weft', '--help']).stdout, /Usage: weft <command>/);
  assert.match(run('npx', ['weft', 'table', '--help']).stdout, /Usage: weft table/);
});

test('weft bench --quick runs from the installed package and writes its JSON', { skip }, () => {
  const json = join(dir, 'bench.json');
  run('npx', ['weft', 'bench', '--quick', '--layout', 'shared', '--json', json]);
  const report = JSON.parse(readFileSync(json, 'utf8')) as { cases: { name: string }[] };
  assert.deepEqual(
    report.cases.map((c) => c.name),
    ['veth', 'kernel-vxlan', 'weft-vxlan', 'weft-udp'],
  );
});

test('weft demo --hosts 2 runs from the installed package', { skip }, () => {
  const { stdout } = run('npx', ['weft', 'demo', '--hosts', '2', '--mbytes', '16']);
  assert.match(stdout, /✓ every pod reached every other pod/);
});

test("the README's library example runs against the installed package", { skip }, () => {
  const readme = readFileSync(join(kRoot, 'README.md'), 'utf8');
  const m = /<!-- example:library[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme);
  assert.ok(m, 'README has the library example');
  writeFileSync(join(app, 'example.mjs'), m[1]!);
  // The example binds 198.18.0.1 and creates flannel.1: give it a namespace with that underlay.
  const a = new Netns('pkga');
  const b = new Netns('pkgb');
  spaces.push(a, b);
  underlay([a, b]);
  const { stdout } = run('ip', ['netns', 'exec', a.name, process.execPath, join(app, 'example.mjs')]);
  assert.match(stdout, /our VtepMAC [0-9a-f]{2}(:[0-9a-f]{2}){5}/);
  assert.match(stdout, /vtepMac: '0e:2a:0a:f4:02:00'/);
});

test('DataPlane from the installed package loads no etcd3 or gRPC module', { skip }, () => {
  for (const entry of ['weft', 'weft/dataplane']) {
    const loaded = JSON.parse(
      run(process.execPath, ['-e', `void require('${entry}').DataPlane; console.log(JSON.stringify(Object.keys(require.cache)))`]).stdout,
    ) as string[];
    const heavy = loaded.filter((f) => /node_modules\/(etcd3|@grpc)\//.test(f));
    assert.deepEqual(heavy, [], `require('${entry}') loaded ${heavy.length} etcd3/gRPC modules`);
  }
});
