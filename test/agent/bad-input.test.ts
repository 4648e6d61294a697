// Bad input to `weft run`: an invalid config, no permission for the TUN
// device (CAP_NET_ADMIN dropped with setpriv), a nonexistent --iface. Each
// gives exactly one error line naming the flag or field and exit code 2,
// and leaves nothing configured (links, addresses, routes, iptables chains,
// files, table, lease). An etcd unreachable at start is no crash: the agent
// names endpoint and error, retries with backoff, /readyz says why it is
// not ready, and it becomes ready once etcd is up.

import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { e2eUnavailable } from '../helpers/netns';
import { EtcdInNs } from '../helpers/etcd-ns';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { httpGet, until, weftCli, WeftAgent } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';

function assertNothingLeft(n: Node): void {
  const links = JSON.parse(n.ns.ip('-j', 'link', 'show')) as { ifname: string }[];
  assert.deepEqual(links.map((l) => l.ifname).sort(), ['lo', 'ul']);
  assert.doesNotMatch(n.ns.ip('route', 'show'), /10\.244\./);
  assert.doesNotMatch(n.ns.ip('addr', 'show'), /10\.244\./);
  assert.doesNotMatch(n.ns.exec('iptables', '-S') + n.ns.exec('iptables', '-t', 'nat', '-S'), /FLANNEL/);
  assert.ok(!existsSync(n.subnetFile), 'no subnet.env');
  assert.ok(!existsSync(`${n.subnetFile}.weft.json`), 'no state file');
  const ino = n.ns.exec('stat', '-L', '-c', '%i', '/proc/self/ns/net').trim();
  assert.deepEqual(
    (existsSync('/dev/shm/weft') ? readdirSync('/dev/shm/weft') : []).filter((f) => f.startsWith(`${ino}-`)),
    [],
    'no table file',
  );
}

function runOnce(n: Node, extra: string[], prefix: string[] = []): ReturnType<typeof weftCli> {
  return weftCli(n.ns, ['run', '--iface', 'ul', '--subnet-file', n.subnetFile, '--queues', '1', ...extra], { prefix });
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => / level=error /.test(l));
}

describe('weft run with bad input', { skip }, () => {
  let c: Cluster;
  let n: Node;
  before(() => {
    c = new Cluster('bad', 1, kConfig);
    n = c.nodes[0]!;
  });
  after(() => c?.destroy());

  test('an invalid config: exit 2, one error line naming the field, nothing configured', () => {
    const bad = join(c.dir, 'bad.json');
    writeFileSync(bad, '{"Network":"10.244.0.0/16","SubnetLen":31,"Backend":{"Type":"vxlan"}}');
    const dataDir = join(c.dir, 'd1');
    const r = runOnce(n, ['--data-dir', dataDir, '--net-config-path', bad]);
    assert.equal(r.code, 2, r.stderr);
    const errs = errorLines(r.stderr);
    assert.equal(errs.length, 1, r.stderr);
    assert.match(errs[0]!, /SubnetLen must be less than \/31/);
    assert.match(errs[0]!, /field=SubnetLen/);
    assert.ok(!existsSync(join(dataDir, 'weft.db')), 'the store was not even opened');
    assertNothingLeft(n);
  });

  test('no permission for the TUN device (CAP_NET_ADMIN dropped): exit 2, one error line, no device and no lease left', async () => {
    const dataDir = join(c.dir, 'd2');
    const r = runOnce(
      n,
      ['--data-dir', dataDir, '--net-config-path', c.configFile],
      ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin'],
    );
    assert.equal(r.code, 2, r.stderr);
    const errs = errorLines(r.stderr);
    assert.equal(errs.length, 1, r.stderr);
    assert.match(errs[0]!, /TUN device flannel\.1/);
    assert.match(errs[0]!, /CAP_NET_ADMIN/);
    assert.match(errs[0]!, /flag=--device|errno=EPERM/);
    assertNothingLeft(n);
    const store = new EmbeddedStore({ dataDir });
    try {
      assert.deepEqual((await store.list()).leases, [], 'the lease this run took was given back');
    } finally {
      await store.close();
    }
  });

  test('a nonexistent --iface: exit 2, one error line naming --iface, nothing configured', () => {
    const dataDir = join(c.dir, 'd3');
    const r = weftCli(n.ns, [
      'run',
      '--iface',
      'nosuch0',
      '--subnet-file',
      n.subnetFile,
      '--data-dir',
      dataDir,
      '--net-config-path',
      c.configFile,
    ]);
    assert.equal(r.code, 2, r.stderr);
    const errs = errorLines(r.stderr);
    assert.equal(errs.length, 1, r.stderr);
    assert.match(errs[0]!, /--iface nosuch0/);
    assert.match(errs[0]!, /flag=--iface/);
    assertNothingLeft(n);
  });

  test("an unknown flag or a bad flag value: exit 2 with Go flag's wording", () => {
    const r1 = weftCli(n.ns, ['run', '--no-such-flag']);
    assert.equal(r1.code, 2);
    assert.match(r1.stderr, /flag provided but not defined: -no-such-flag/);
    const r2 = weftCli(n.ns, ['run', '-healthz-port=abc']);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /invalid value \\"abc\\" for flag -healthz-port/);
    const r3 = weftCli(n.ns, ['run', '--subnet-lease-renew-margin', '0', '--iface', 'ul']);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /subnet-lease-renew-margin/);
    const r4 = weftCli(n.ns, ['run'], { env: { FLANNELD_IP_MASQ: 'maybe' } });
    assert.equal(r4.code, 2);
    assert.match(r4.stderr, /FLANNELD_IP_MASQ/);
  });
});

describe('weft run with etcd unreachable at start', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdInNs | undefined;
  before(() => {
    c = new Cluster('unr', 1, kConfig);
    // The address exists (connections are refused) but etcd is not running yet.
    c.sw.ip('addr', 'add', '198.18.0.100/24', 'dev', 'br0');
  });
  after(async () => {
    await c?.destroy();
    await etcd?.stop();
  });

  test('SIGTERM while waiting for etcd exits 0 within 2 s', async () => {
    const n = c.nodes[0]!;
    const a = new WeftAgent(n.ns, ['run', '--iface', 'ul', '--subnet-file', n.subnetFile, '--etcd-endpoints', 'http://198.18.0.100:2379']);
    await a.waitLog(/retrying/);
    const { code, ms } = await a.stop('SIGTERM');
    assert.equal(code, 0, a.stderr);
    assert.ok(ms < 2000, `took ${ms} ms`);
  });

  test('no crash: names endpoint and error, /readyz is 503 with the reason, then ready once etcd is up', async () => {
    const n = c.nodes[0]!;
    const a = c.start(n, ['--etcd-endpoints', 'http://198.18.0.100:2379', '--healthz-ip', '127.0.0.1', '--healthz-port', '8081']);
    await a.waitLog(/level=warn msg="cannot read the network config, retrying" store="etcd http:\/\/198\.18\.0\.100:2379" err=/);
    await a.waitLog(/retrying.*attempt=3/, 30_000);
    assert.ok(a.running, 'still running after several attempts');
    assert.equal(a.errorLines().length, 0, 'no error line while retrying');
    const h = httpGet(n.ns, 'http://127.0.0.1:8081/healthz');
    assert.deepEqual(h, { status: 200, body: 'flanneld is running' });
    const r = httpGet(n.ns, 'http://127.0.0.1:8081/readyz');
    assert.equal(r.status, 503);
    assert.match(r.body, /^flanneld is not ready yet\nreason: .*198\.18\.0\.100:2379/);
    etcd = new EtcdInNs(c.sw, '198.18.0.100');
    await etcd.start();
    etcd.ctl('put', '/coreos.com/network/config', kConfig);
    await a.waitReady(30_000);
    await until(() => httpGet(n.ns, 'http://127.0.0.1:8081/readyz').status === 200, 5000, 'readyz 200');
    assert.equal(httpGet(n.ns, 'http://127.0.0.1:8081/readyz').body, 'flanneld is ready');
    const { code } = await a.stop('SIGTERM');
    assert.equal(code, 0);
  });
});
