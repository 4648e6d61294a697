// The other backends and the host-side pieces: udp (flannel0, leases
// without BackendType), host-gw (routes via each peer's PublicIP, no data
// plane), --ip-masq rules, FLANNELD_* environment variables instead of
// flags, and `weft cleanup` removing everything `weft run` created.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { encodeLeaseAttrs } from '../../src/store/lease-json';
import { formatCidr } from '../../src/net/cidr';
import { e2eUnavailable } from '../helpers/netns';
import { ping, transfer } from '../helpers/overlay';
import { Cluster } from '../helpers/weft-cluster';
import { until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();

describe('udp backend, configured through FLANNELD_* variables, with --ip-masq; then weft cleanup', { skip }, () => {
  let c: Cluster;
  let dataDir: string;
  before(async () => {
    c = new Cluster('udp', 2, '{"Network":"10.244.0.0/16"}'); // no Backend: flannel's default, udp
    dataDir = join(c.dir, 'data');
    for (const n of c.nodes) {
      c.start(n, [], { FLANNELD_DATA_DIR: dataDir, FLANNELD_NET_CONFIG_PATH: c.configFile, FLANNELD_IP_MASQ: 'true' });
    }
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
    }
  });
  after(() => c?.destroy());

  test("leases carry no BackendType (as flannel's udp), the device is flannel0 and subnet.env says MTU 1472, IPMASQ true", async () => {
    const store = new EmbeddedStore({ dataDir });
    const { leases } = await store.list();
    await store.close();
    for (const n of c.nodes) {
      const l = leases.find((x) => formatCidr(x.subnet) === n.subnet)!;
      assert.equal(encodeLeaseAttrs(l.attrs), `{"PublicIP":"${n.ip}","PublicIPv6":null}`);
      assert.match(n.ns.ip('link', 'show', 'flannel0'), /mtu 1472/);
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${n.subnet!.replace('.0/24', '.1/24')}\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n`,
      );
      const s = JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats;
      const peer = c.nodes.find((p) => p !== n)!;
      assert.deepEqual(s.entries, [{ subnet: peer.subnet, publicIp: peer.ip, backend: 'udp' }]);
    }
  });

  test('pods reach each other over udp, content checked', async () => {
    const [a, b] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2);
    assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 2 }), 2);
    const r = await transfer(a.ns, b.ns, b.pod!, 4 << 20, { fromIp: a.pod! });
    assert.equal(r.serverSha256, r.sha256);
  });

  test("flannel's masquerade and forward chains are installed, and reinstalled when flushed", async () => {
    const n = c.nodes[0]!;
    const nat = n.ns.exec('iptables', '-t', 'nat', '-S', 'FLANNEL-POSTRTG');
    assert.match(
      nat,
      new RegExp(
        `-A FLANNEL-POSTRTG -s ${n.subnet!.replace(/\./g, '\\.')} -d 10\\.244\\.0\\.0/16 -m comment --comment "flanneld masq" -j RETURN`,
      ),
    );
    assert.match(nat, /-j MASQUERADE/);
    assert.match(
      n.ns.exec('iptables', '-S', 'FLANNEL-FWD'),
      /-A FLANNEL-FWD -s 10\.244\.0\.0\/16 -m comment --comment "flanneld forward" -j ACCEPT/,
    );
    n.ns.exec('iptables', '-t', 'nat', '-F', 'FLANNEL-POSTRTG');
    await until(() => /MASQUERADE/.test(n.ns.exec('iptables', '-t', 'nat', '-S', 'FLANNEL-POSTRTG')), 12_000, 'rules resynced');
  });

  test('weft cleanup after a stop removes device, table, rules, subnet.env and state file (the lease stays)', async () => {
    const n = c.nodes[0]!;
    const tablePath = (JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats).tablePath;
    assert.equal((await n.agent!.stop()).code, 0);
    assert.match(n.ns.ip('link', 'show'), /flannel0/, 'persist keeps the device after a stop');
    const r = weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(n.ns.ip('link', 'show'), /flannel0/);
    assert.doesNotMatch(n.ns.ip('route', 'show'), /10\.244\./);
    assert.doesNotMatch(n.ns.exec('iptables', '-S') + n.ns.exec('iptables', '-t', 'nat', '-S'), /FLANNEL/);
    assert.ok(!existsSync(tablePath), 'table removed');
    assert.ok(!existsSync(n.subnetFile) && !existsSync(`${n.subnetFile}.weft.json`), 'files removed');
    const store = new EmbeddedStore({ dataDir });
    assert.ok(
      (await store.list()).leases.some((l) => formatCidr(l.subnet) === n.subnet),
      'lease kept',
    );
    await store.close();
  });
});

describe('host-gw backend', { skip }, () => {
  let c: Cluster;
  before(async () => {
    c = new Cluster('hgw', 2, '{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    const dataDir = join(c.dir, 'data');
    for (const n of c.nodes) c.start(n, ['--data-dir', dataDir, '--net-config-path', c.configFile]);
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
    }
  });
  after(() => c?.destroy());

  test("routes each peer subnet via its PublicIP on the external interface; MTU is the interface's; pods reach each other", async () => {
    // Both directions' routes first: a reply needs the peer's route back.
    for (const n of c.nodes) {
      const peer = c.nodes.find((p) => p !== n)!;
      await until(() => n.ns.ip('route', 'show', peer.subnet!).includes(`via ${peer.ip} dev ul`), 3000, 'host-gw route');
    }
    for (const n of c.nodes) {
      const peer = c.nodes.find((p) => p !== n)!;
      assert.match(readFileSync(n.subnetFile, 'utf8'), /FLANNEL_MTU=1500\n/);
      assert.doesNotMatch(n.ns.ip('link', 'show'), /flannel/);
      assert.equal(ping(n.ns, peer.pod!, { src: n.pod!, count: 2 }), 2);
    }
  });

  test("a stopped peer's route stays (flannel keeps routes); cleanup removes them", async () => {
    const [a, b] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
    assert.equal((await a.agent!.stop()).code, 0);
    assert.match(a.ns.ip('route', 'show'), new RegExp(`${b.subnet!.replace(/\./g, '\\.')} via ${b.ip}`));
    assert.equal(weftCli(a.ns, ['cleanup', '--subnet-file', a.subnetFile]).code, 0);
    assert.doesNotMatch(a.ns.ip('route', 'show'), /10\.244\./);
  });
});
