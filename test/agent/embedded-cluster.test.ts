// Three `weft run` agents (real processes) in three namespaces sharing one
// embedded --data-dir, underlay 198.18.0.0/24 on a bridge: distinct leases,
// flannel's subnet.env byte for byte, every pod reaches every pod, the live
// table is readable from another process, health endpoints, clean SIGTERM.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { encodeLeaseAttrs, vtepMacOf } from '../../src/store/lease-json';
import { formatCidr } from '../../src/net/cidr';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { e2eUnavailable } from '../helpers/netns';
import { ping, transfer } from '../helpers/overlay';
import { Cluster } from '../helpers/weft-cluster';
import { httpGet, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const kBytes = 8 * 1024 * 1024;

describe('three weft vxlan agents on one embedded data dir', { skip }, () => {
  let c: Cluster;
  let dataDir: string;

  before(async () => {
    c = new Cluster('emb', 3, kConfig);
    dataDir = join(c.dir, 'data');
    for (const n of c.nodes) {
      c.start(n, c.embeddedArgs(dataDir, { health: true }));
    }
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
    }
  });
  after(() => c?.destroy());

  test("each agent holds a distinct lease, published in flannel's JSON with its data plane's VtepMAC", async () => {
    const subnets = c.nodes.map((n) => n.subnet);
    assert.equal(new Set(subnets).size, 3, `leases: ${subnets.join(' ')}`);
    const store = new EmbeddedStore({ dataDir });
    try {
      const { leases } = await store.list();
      assert.equal(leases.length, 3);
      for (const n of c.nodes) {
        const l = leases.find((x) => formatCidr(x.subnet) === n.subnet)!;
        assert.ok(l, `lease for ${n.subnet}`);
        const mac = vtepMacOf(l.attrs)!;
        assert.equal(
          encodeLeaseAttrs(l.attrs),
          `{"PublicIP":"${n.ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`,
        );
        const stats = JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats;
        assert.equal(stats.vtepMac, mac, "the published VtepMAC is the data plane's");
        assert.equal(stats.subnet, n.subnet);
        assert.equal(stats.device, 'flannel.1');
      }
    } finally {
      await store.close();
    }
  });

  test("subnet.env matches flannel's format byte for byte", () => {
    for (const n of c.nodes) {
      const sub = n.subnet!.replace(/\.0\/24$/, '.1/24');
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${sub}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
    }
  });

  test('`weft table --json` from another process shows both peers with their PublicIP and VtepMAC', () => {
    const macs = new Map(c.nodes.map((n) => [n.subnet, (JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats).vtepMac]));
    for (const n of c.nodes) {
      const r = weftCli(n.ns, ['table', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const stats = JSON.parse(r.stdout) as DataPlaneStats;
      const want = c.nodes
        .filter((p) => p !== n)
        .map((p) => ({ subnet: p.subnet!, publicIp: p.ip, vtepMac: macs.get(p.subnet)!, backend: 'vxlan' }));
      want.sort((a, b) => a.subnet.localeCompare(b.subnet, 'en', { numeric: true }));
      const got = [...stats.entries].sort((a, b) => a.subnet.localeCompare(b.subnet, 'en', { numeric: true }));
      assert.deepEqual(got, want);
      assert.equal(typeof stats.drops.noRoute, 'number');
      const text = weftCli(n.ns, ['table']);
      assert.equal(text.code, 0);
      for (const p of want)
        assert.match(text.stdout, new RegExp(`${p.subnet.replace(/\./g, '\\.')}\\s+${p.publicIp.replace(/\./g, '\\.')}\\s+${p.vtepMac}`));
    }
  });

  test('every pod pings every other pod', () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} → ${b.pod}`);
      }
    }
  });

  test('checked TCP transfers between pods arrive intact around the ring', async () => {
    for (let i = 0; i < 3; i++) {
      const a = c.nodes[i]!;
      const b = c.nodes[(i + 1) % 3]!;
      const r = await transfer(a.ns, b.ns, b.pod!, kBytes, { fromIp: a.pod! });
      assert.equal(r.serverBytes, kBytes);
      assert.equal(r.serverSha256, r.sha256, `${a.pod} → ${b.pod} content differs`);
    }
  });

  test("/healthz, /readyz and /metrics answer with flannel's texts and the table figures", () => {
    const n = c.nodes[0]!;
    assert.deepEqual(httpGet(n.ns, 'http://127.0.0.1:8081/healthz'), { status: 200, body: 'flanneld is running' });
    assert.deepEqual(httpGet(n.ns, 'http://127.0.0.1:8081/readyz'), { status: 200, body: 'flanneld is ready' });
    const m = httpGet(n.ns, 'http://127.0.0.1:8081/metrics');
    assert.equal(m.status, 200);
    assert.match(m.body, /^weft_table_entries\{backend="vxlan"\} 2$/m);
    assert.match(m.body, /^weft_leases\{kind="peer"\} 2$/m);
    assert.match(m.body, /^weft_udp_tx_packets_total\{device="flannel.1",backend="vxlan"\} [1-9]\d*$/m);
    assert.match(m.body, /^weft_drops_total\{device="flannel.1",backend="vxlan",reason="no_route"\} \d+$/m);
  });

  test('SIGTERM: exit code 0 within 2 s, the lease stays in the store', async () => {
    const n = c.nodes[2]!;
    const { code, ms } = await n.agent!.stop('SIGTERM');
    assert.equal(code, 0, n.agent!.stderr);
    assert.ok(ms < 2000, `took ${ms} ms`);
    const store = new EmbeddedStore({ dataDir });
    try {
      assert.ok(
        (await store.list()).leases.some((l) => formatCidr(l.subnet) === n.subnet),
        'lease kept',
      );
    } finally {
      await store.close();
    }
  });
});
