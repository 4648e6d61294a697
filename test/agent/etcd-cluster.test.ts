// Three `weft run` agents on a real etcd (started by the test in a namespace
// of its own on the switch, 198.18.0.101:2379, never in the root namespace):
// flannel's exact keys and lease JSON read back raw with etcdctl, 24 h etcd
// leases, subnet.env, and every pod reaching every pod.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { e2eUnavailable } from '../helpers/netns';
import { ping, transfer } from '../helpers/overlay';
import { EtcdCluster } from '../helpers/etcd-cluster';
import type { EtcdInNs } from '../helpers/etcd-ns';
import { Cluster } from '../helpers/weft-cluster';
import { httpGet, until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';

describe('three weft vxlan agents on etcd', { skip }, () => {
  let c: Cluster;
  let cluster: EtcdCluster;
  let etcd: EtcdInNs;

  before(async () => {
    c = new Cluster('etc', 3, kConfig, { prefix: 'e2' });
    cluster = new EtcdCluster(c.sw, { prefix: 'e2', label: 'etcm' });
    await cluster.start();
    etcd = cluster.members[0]!;
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    for (const n of c.nodes) c.start(n, [...cluster.agentArgs(), '--healthz-ip', '127.0.0.1', '--healthz-port', '8081']);
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
    }
  });
  after(async () => {
    await c?.destroy();
    await cluster?.destroy();
  });

  test("leases are flannel's keys and JSON, each on its own 24 h etcd lease", () => {
    const kvs = etcd.getPrefix(`${kPrefix}/subnets/`);
    assert.equal(kvs.length, 3);
    const leases = new Set<string>();
    for (const n of c.nodes) {
      const key = `${kPrefix}/subnets/${n.subnet!.replace('/', '-')}`;
      const kv = kvs.find((k) => k.key === key);
      assert.ok(kv, `key ${key} in ${kvs.map((k) => k.key).join(' ')}`);
      const mac = (JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats).vtepMac!;
      assert.match(mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
      assert.equal(kv.value, `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`);
      assert.notEqual(kv.lease, '0', 'the key is attached to an etcd lease');
      const ttl = etcd.ttl(kv.lease);
      assert.equal(ttl.granted, 86400);
      assert.ok(ttl.remaining > 86000);
      leases.add(kv.lease);
    }
    assert.equal(leases.size, 3);
  });

  test("subnet.env is flannel's, byte for byte", () => {
    for (const n of c.nodes) {
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${n.subnet!.replace('.0/24', '.1/24')}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
    }
  });

  test('every pod pings every other pod, and a checked transfer crosses', async () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) if (a !== b) assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} → ${b.pod}`);
    }
    const [a, b] = [c.nodes[0]!, c.nodes[2]!];
    const r = await transfer(a.ns, b.ns, b.pod!, 8 << 20, { fromIp: a.pod! });
    assert.equal(r.serverSha256, r.sha256);
    assert.equal(r.serverBytes, 8 << 20);
  });

  test('an etcd outage does not stop forwarding: tables kept, /readyz 503 with the reason, ready again after etcd returns', async () => {
    const [a, b] = [c.nodes[0]!, c.nodes[1]!];
    const before = (JSON.parse(weftCli(a.ns, ['table', '--json']).stdout) as DataPlaneStats).entries;
    await etcd.crash();
    await until(() => httpGet(a.ns, 'http://127.0.0.1:8081/readyz').status === 503, 15_000, 'not ready during the outage');
    const r = httpGet(a.ns, 'http://127.0.0.1:8081/readyz');
    assert.match(r.body, /^flanneld is not ready yet\nreason: store unreachable: .*198\.18\.0\.101:2379/);
    assert.equal(httpGet(a.ns, 'http://127.0.0.1:8081/healthz').status, 200);
    assert.deepEqual((JSON.parse(weftCli(a.ns, ['table', '--json']).stdout) as DataPlaneStats).entries, before, 'table kept');
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, 'still forwarding');
    await etcd.start();
    for (const n of c.nodes) {
      await until(() => httpGet(n.ns, 'http://127.0.0.1:8081/readyz').status === 200, 30_000, `${n.ip} ready again`);
      assert.ok(n.agent!.running);
    }
    assert.equal(etcd.getPrefix(`${kPrefix}/subnets/`).length, 3, 'leases survived');
  });
});
