// Dual stack with the vxlan backend through real `weft run` processes: weft's
// one TUN device carries IPv4 and IPv6, VXLAN over the IPv4 underlay to
// PublicIP and over the IPv6 underlay to PublicIPv6, as a kernel node's
// flannel.1 and flannel-v6.1 do.
// - three dual-stack agents on the embedded store: lease JSON (BackendData and
//   BackendV6Data), subnet.env, the IPv6 part of the table, every pair
//   pinging over both families;
// - on etcd, three weft agents and a node that is flanneld with kernel VXLAN
//   (flannel.1 + flannel-v6.1, two MACs, programmed from the weft leases as
//   flanneld does): ping and ping6 between all pairs, SHA-256-checked
//   transfers over IPv4 and IPv6 both ways, no rx errors on the kernel side;
// - IPv6-only vxlan is refused up front (the data plane needs IPv4 beside it).

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { parseSubnetEnv } from '../../src/host/subnet-env';
import { formatCidr6 } from '../../src/net/cidr6';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { makeSubnetKey } from '../../src/store/keys';
import { encodeLeaseAttrs } from '../../src/store/lease-json';
import { addV6Underlay, learn6, ping6 } from '../helpers/dual-stack';
import { EtcdInNs } from '../helpers/etcd-ns';
import { e2eUnavailable } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping, transfer } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}';

function tableOf(n: Node): DataPlaneStats {
  return JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats;
}

/** The IPv6 lease of `n`, from its subnet.env. */
function subnet6Of(n: Node): string {
  return formatCidr6(parseSubnetEnv(readFileSync(n.subnetFile, 'utf8')).ipv6Subnet!);
}

/** Waits until every weft node's table holds every other node's IPv4 and IPv6 lease. */
async function peersInTables(weft: Node[], all: { v4: string; v6: string }[]): Promise<void> {
  for (const n of weft) {
    await until(
      () => {
        const subnets = new Set(tableOf(n).entries.map((e) => e.subnet));
        return all.every((l) => l.v4 === n.subnet || (subnets.has(l.v4) && subnets.has(l.v6)));
      },
      8000,
      `every peer lease in ${n.ns.name}'s table`,
    );
  }
}

describe('three dual-stack vxlan agents on the embedded store', { skip }, () => {
  let c: Cluster;
  let v6: string[];
  const pods6 = new Map<Node, string>();
  before(async () => {
    c = new Cluster('dsv', 3, kConfig);
    v6 = addV6Underlay(c);
    const dataDir = join(c.dir, 'data');
    for (const n of c.nodes) c.start(n, c.embeddedArgs(dataDir));
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
      pods6.set(n, learn6(n));
    }
    await peersInTables(
      c.nodes,
      c.nodes.map((n) => ({ v4: n.subnet!, v6: subnet6Of(n) })),
    );
  });
  after(() => c?.destroy());

  test('leases carry PublicIPv6 and BackendV6Data (the one device: same VtepMAC), subnet.env byte for byte', async () => {
    const store = new EmbeddedStore({ dataDir: join(c.dir, 'data') });
    const { leases } = await store.list();
    await store.close();
    assert.equal(leases.length, 3);
    c.nodes.forEach((n, i) => {
      const l = leases.find((x) => x.attrs.publicIp === n.ip)!;
      assert.match(makeSubnetKey(l.subnet, l.ipv6Subnet), /^10\.244\.\d+\.0-24&fd00:10:244:[0-9a-f]+::-64$/);
      const mac = tableOf(n).vtepMac!;
      const data = `{"VNI":1,"VtepMAC":"${mac}"}`;
      assert.equal(
        encodeLeaseAttrs(l.attrs),
        `{"PublicIP":"${n.ip}","PublicIPv6":"${v6[i]}","BackendType":"vxlan","BackendData":${data},"BackendV6Data":${data}}`,
      );
      const sub6 = formatCidr6(l.ipv6Subnet!);
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${n.subnet!.replace('.0/24', '.1/24')}\n` +
          `FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=${sub6.replace('::/64', '::1/64')}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
    });
  });

  test("weft table shows the IPv6 part and every peer's IPv6 lease at its PublicIPv6", () => {
    for (const n of c.nodes) {
      const s = tableOf(n);
      assert.equal(s.ipv6Network, 'fd00:10:244::/56');
      assert.equal(s.ipv6Subnet, subnet6Of(n));
      assert.equal(s.vtepMacV6, s.vtepMac);
      c.nodes.forEach((peer, i) => {
        if (peer === n) return;
        const e = s.entries.find((x) => x.subnet === subnet6Of(peer));
        assert.deepEqual(e, { subnet: subnet6Of(peer), publicIp: v6[i], vtepMac: tableOf(peer).vtepMac, backend: 'vxlan' });
      });
    }
  });

  test('every pair pings over IPv4 and IPv6 through the one device', () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} -> ${b.pod}`);
        assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2, `${pods6.get(a)} -> ${pods6.get(b)}`);
      }
    }
    for (const n of c.nodes) {
      const s = tableOf(n);
      assert.ok(s.counters.udpRxPackets! > 0 && s.counters.tunTxPackets! > 0);
      // noRoute is left out: with IPv6 on, the kernel may send MLD reports from :: into the TUN (no lease, dropped).
      for (const reason of ['unknownPeer', 'badMac', 'badVni', 'malformed', 'badDestination'])
        assert.equal(s.drops[reason], 0, `${n.ns.name}: ${reason} drops`);
    }
  });
});

const kPrefix = '/coreos.com/network';
const kKernel = {
  subnet: '10.244.99.0/24',
  subnet6: 'fd00:10:244:63::/64',
  mac: '0e:2a:0a:f4:63:00',
  mac6: '0e:2a:0a:f4:63:06',
  pod: '10.244.99.5',
  pod6: 'fd00:10:244:63::5',
};

describe('dual stack on etcd: three weft vxlan agents and a kernel flanneld node (flannel.1 + flannel-v6.1)', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdInNs;
  let weft: Node[];
  let kernel: Node;
  let v6: string[];
  const pods6 = new Map<Node, string>();

  before(async () => {
    c = new Cluster('dsm', 4, kConfig);
    v6 = addV6Underlay(c);
    c.sw.ip('addr', 'add', '198.18.0.100/24', 'dev', 'br0');
    etcd = new EtcdInNs(c.sw, '198.18.0.100');
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    weft = c.nodes.slice(0, 3);
    kernel = c.nodes[3]!;
    // The flanneld node: its dual-stack lease exactly as flanneld writes it, then its two devices.
    const lease = etcd.grant(86400);
    etcd.ctl(
      'put',
      `--lease=${lease}`,
      `${kPrefix}/subnets/10.244.99.0-24&fd00:10:244:63::-64`,
      `{"PublicIP":"${kernel.ip}","PublicIPv6":"${v6[3]}","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${kKernel.mac}"},"BackendV6Data":{"VNI":1,"VtepMAC":"${kKernel.mac6}"}}`,
    );
    kernelVxlanNode(kernel.ns, { publicIp: kernel.ip, subnet: kKernel.subnet, mac: kKernel.mac });
    kernelVxlanNode(kernel.ns, { publicIp: v6[3]!, subnet: kKernel.subnet6, mac: kKernel.mac6, wireFrames: false });
    kernel.subnet = kKernel.subnet;
    kernel.pod = kKernel.pod;
    kernel.ns.ip('addr', 'add', `${kKernel.pod}/32`, 'dev', 'lo');
    kernel.ns.ip('-6', 'addr', 'add', `${kKernel.pod6}/128`, 'dev', 'lo');
    pods6.set(kernel, kKernel.pod6);
    for (const n of weft) c.start(n, ['--etcd-endpoints', etcd.endpoint]);
    for (const n of weft) {
      await n.agent!.waitReady();
      c.learn(n);
      pods6.set(n, learn6(n));
    }
    // flanneld's watch on the kernel node: every weft lease on both devices.
    for (const kv of etcd.getPrefix(`${kPrefix}/subnets/`)) {
      const [k4, k6] = kv.key.slice(kv.key.lastIndexOf('/') + 1).split('&') as [string, string];
      const subnet = k4.replace('-', '/');
      if (subnet === kKernel.subnet) continue;
      const v = JSON.parse(kv.value) as {
        PublicIP: string;
        PublicIPv6: string;
        BackendData: { VtepMAC: string };
        BackendV6Data: { VtepMAC: string };
      };
      kernelVxlanPeer(kernel.ns, { subnet, publicIp: v.PublicIP, mac: v.BackendData.VtepMAC });
      kernelVxlanPeer(
        kernel.ns,
        { subnet: k6.replace(/-(\d+)$/, '/$1'), publicIp: v.PublicIPv6, mac: v.BackendV6Data.VtepMAC },
        'flannel-v6.1',
      );
    }
    await peersInTables(weft, [...weft.map((n) => ({ v4: n.subnet!, v6: subnet6Of(n) })), { v4: kKernel.subnet, v6: kKernel.subnet6 }]);
  });
  after(async () => {
    await c?.destroy();
    await etcd?.stop();
  });

  test("the weft nodes hold the kernel node's IPv6 lease with its flannel-v6.1 MAC and PublicIPv6", () => {
    for (const n of weft) {
      const e = tableOf(n).entries.find((x) => x.subnet === kKernel.subnet6);
      assert.deepEqual(e, { subnet: kKernel.subnet6, publicIp: v6[3], vtepMac: kKernel.mac6, backend: 'vxlan' });
    }
  });

  test('all pairs ping each other over IPv4 and IPv6', () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} -> ${b.pod}`);
        assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2, `${pods6.get(a)} -> ${pods6.get(b)}`);
      }
    }
  });

  test('checked transfers over IPv4 and IPv6 cross between weft and the kernel node both ways; no kernel rx errors', async () => {
    for (const w of weft) {
      for (const [from, to] of [
        [w, kernel],
        [kernel, w],
      ] as const) {
        for (const [src, dst] of [
          [from.pod!, to.pod!],
          [pods6.get(from)!, pods6.get(to)!],
        ] as const) {
          const r = await transfer(from.ns, to.ns, dst, 4 << 20, { fromIp: src });
          assert.equal(r.serverBytes, 4 << 20, `${src} -> ${dst}`);
          assert.equal(r.serverSha256, r.sha256, `${src} -> ${dst} content differs`);
        }
      }
    }
    for (const dev of ['flannel.1', 'flannel-v6.1']) {
      const stats = JSON.parse(kernel.ns.ip('-j', '-s', 'link', 'show', dev)) as [{ stats64: { rx: { errors: number; dropped: number } } }];
      assert.equal(stats[0].stats64.rx.errors, 0, `${dev} rx errors`);
    }
  });
});

describe('an IPv6-only vxlan config', { skip }, () => {
  let c: Cluster;
  before(() => {
    c = new Cluster('v6vx', 1, '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}');
    addV6Underlay(c);
  });
  after(() => c?.destroy());

  test('is refused naming EnableIPv4 (exit 2): no device, no subnet.env, no lease', async () => {
    const n = c.nodes[0]!;
    const data = join(c.dir, 'data-vx');
    const agent = c.start(n, c.embeddedArgs(data));
    const deadline = Date.now() + 15_000;
    while (agent.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(agent.exitCode, 2, agent.stderr);
    assert.match(agent.stderr, /EnableIPv4/);
    assert.equal(existsSync(n.subnetFile), false);
    assert.doesNotMatch(n.ns.ip('link', 'show'), /flannel\.1/);
    const store = new EmbeddedStore({ dataDir: data });
    const { leases } = await store.list();
    await store.close();
    assert.deepEqual(leases, []);
  });
});
