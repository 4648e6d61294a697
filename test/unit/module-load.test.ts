// DataPlane alone must not pull in the etcd client: `weft/dataplane` and the
// main entry both load without etcd3 or gRPC (the etcd store requires them
// when one is opened). Resolved through the package's own `exports` map
// (a package may require itself by name), each in a fresh process.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

const kRoot = join(__dirname, '..', '..', '..');

function modulesLoadedBy(code: string): string[] {
  const r = spawnSync(process.execPath, ['-e', `${code}; console.log(JSON.stringify(Object.keys(require.cache)))`], {
    cwd: kRoot,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as string[];
}

const heavy = (files: string[]): string[] => files.filter((f) => /node_modules\/(etcd3|@grpc)\//.test(f));

for (const entry of ['weft/dataplane', 'weft']) {
  test(`require('${entry}').DataPlane loads no etcd3 or gRPC module`, () => {
    const loaded = modulesLoadedBy(`if (typeof require('${entry}').DataPlane !== 'function') process.exit(3)`);
    assert.deepEqual(heavy(loaded), [], `${entry} loaded them (${loaded.length} modules in all)`);
  });
}

test('opening an EtcdStore is what loads etcd3', () => {
  const loaded = modulesLoadedBy(
    `const { EtcdStore } = require('weft'); void new EtcdStore({ endpoints: ['http://127.0.0.1:1'] }).close()`,
  );
  assert.ok(heavy(loaded).length > 0, 'etcd3 is loaded once a store is constructed');
});
