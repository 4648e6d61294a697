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
// - IPv6-only vxlan (EnableIPv4 false): two weft agents (weft's device is
//   flannel-v6.1, no IPv4 anywhere) and a kernel flannel-v6.1 node on the
//   embedded store: keys, lease JSON and subnet.env byte for byte, weft
//   table, ping6 between all pairs, SHA-256 transfers, hand-off, restart,
//   cleanup.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatCidr6, parseCidr6 } from '../../src/net/cidr6';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { NO_IPV4_SUBNET, makeSubnetKey } from '../../src/store/keys';
import { decodeLeaseAttrs, encodeLeaseAttrs, vtepMacV6Of } from '../../src/store/lease-json';
import { addV6Underlay, learn6, ping6, startOnEmbeddedStore, subnet6Of, untilTablesHold } from '../helpers/dual-stack';
import { EtcdInNs } from '../helpers/etcd-ns';
import { e2eUnavailable } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping, transfer } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { tableOf, until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}';

describe('three dual-stack vxlan agents on the embedded store', { skip }, () => {
  let c: Cluster;
  let v6: string[];
  const pods6 = new Map<Node, string>();
  before(async () => {
    c = new Cluster('dsv', 3, kConfig);
    v6 = addV6Underlay(c);
    await startOnEmbeddedStore(c, pods6);
    await untilTablesHold(
      c.nodes,
      c.nodes.map((n) => [n.subnet!, subnet6Of(n)]),
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
    await untilTablesHold(weft, [...weft.map((n) => [n.subnet!, subnet6Of(n)]), [kKernel.subnet, kKernel.subnet6]]);
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

const kConfig6 = '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}';
const kKernel6 = { subnet6: 'fd00:10:244:63::/64', mac6: '0e:2a:0a:f4:63:06', pod6: 'fd00:10:244:63::5' };

describe('an IPv6-only vxlan cluster (EnableIPv4 false): two weft agents and a kernel flannel-v6.1 node, embedded store', { skip }, () => {
  let c: Cluster;
  let v6: string[];
  let weft: Node[];
  let kernel: Node;
  let dataDir: string;
  const pods6 = new Map<Node, string>();

  /** flanneld's watch on the kernel node: every weft lease on flannel-v6.1. */
  async function programKernel(): Promise<void> {
    const store = new EmbeddedStore({ dataDir });
    const { leases } = await store.list();
    await store.close();
    for (const l of leases) {
      if (!l.ipv6Subnet || formatCidr6(l.ipv6Subnet) === kKernel6.subnet6) continue;
      kernelVxlanPeer(
        kernel.ns,
        { subnet: formatCidr6(l.ipv6Subnet), publicIp: l.attrs.publicIpv6!, mac: vtepMacV6Of(l.attrs)! },
        'flannel-v6.1',
      );
    }
  }

  const meshed6 = () => untilTablesHold(weft, [...weft.map((n) => [subnet6Of(n)]), [kKernel6.subnet6]]);

  before(async () => {
    c = new Cluster('v6vx', 3, kConfig6);
    v6 = addV6Underlay(c);
    for (const n of c.nodes) n.ns.ip('-4', 'addr', 'flush', 'dev', 'ul'); // no IPv4 at all
    dataDir = join(c.dir, 'data');
    weft = [c.nodes[0]!, c.nodes[1]!];
    kernel = c.nodes[2]!;
    // The flanneld node: its IPv6-only lease exactly as flanneld writes it, then its one device.
    const store = new EmbeddedStore({ dataDir });
    await store.put(
      { subnet: NO_IPV4_SUBNET, ipv6Subnet: parseCidr6(kKernel6.subnet6, { strict: true })! },
      decodeLeaseAttrs(
        `{"PublicIP":"0.0.0.0","PublicIPv6":"${v6[2]}","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"${kKernel6.mac6}"}}`,
      ),
      86400,
    );
    await store.close();
    kernelVxlanNode(kernel.ns, { publicIp: v6[2]!, subnet: kKernel6.subnet6, mac: kKernel6.mac6 });
    kernel.ns.exec('sysctl', '-qw', 'net.ipv6.conf.lo.disable_ipv6=0');
    kernel.ns.ip('-6', 'addr', 'add', `${kKernel6.pod6}/128`, 'dev', 'lo');
    pods6.set(kernel, kKernel6.pod6);
    await startOnEmbeddedStore(c, pods6, weft);
    await programKernel();
    await meshed6();
  });
  after(() => c?.destroy());

  test('keys 0.0.0.0-0&<v6>-64, lease JSON (PublicIP 0.0.0.0, BackendV6Data only) and subnet.env byte for byte', async () => {
    const store = new EmbeddedStore({ dataDir });
    const { leases } = await store.list();
    await store.close();
    assert.equal(leases.length, 3);
    weft.forEach((n, i) => {
      const l = leases.find((x) => x.attrs.publicIpv6 === v6[i])!;
      assert.match(makeSubnetKey(l.subnet, l.ipv6Subnet), /^0\.0\.0\.0-0&fd00:10:244:[0-9a-f]+::-64$/);
      const mac = tableOf(n).vtepMacV6!;
      assert.equal(
        encodeLeaseAttrs(l.attrs),
        `{"PublicIP":"0.0.0.0","PublicIPv6":"${v6[i]}","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"${mac}"}}`,
      );
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=${subnet6Of(n).replace('::/64', '::1/64')}\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      // weft's device is flannel-v6.1, a TUN with the IPv6 lease's address and no IPv4 at all.
      const [link] = JSON.parse(n.ns.ip('-d', '-j', 'link', 'show', 'flannel-v6.1')) as { linkinfo?: { info_kind?: string } }[];
      assert.equal(link?.linkinfo?.info_kind, 'tun');
      assert.equal(n.ns.ip('-4', 'addr', 'show', 'dev', 'flannel-v6.1').trim(), '');
      assert.equal(n.ns.exec('ss', '-H', '-u', '-a', '-n', '-4').trim(), '', 'no IPv4 socket');
      const state = JSON.parse(readFileSync(`${n.subnetFile}.weft.json`, 'utf8')) as Record<string, unknown>;
      assert.equal(state.network, '');
      assert.equal(state.device, 'flannel-v6.1');
      assert.equal(state.publicIpv6, v6[i]);
    });
  });

  test("weft table finds the flannel-v6.1 table: IPv6-only, every peer's IPv6 lease (the kernel's with its flannel-v6.1 MAC)", () => {
    for (const n of weft) {
      const s = tableOf(n);
      assert.equal(s.device, 'flannel-v6.1');
      assert.equal(s.ipv6Network, 'fd00:10:244::/56');
      assert.equal(s.ipv6Subnet, subnet6Of(n));
      assert.equal(s.vtepMacV6, s.vtepMac);
      assert.ok(
        s.entries.every((e) => e.subnet.includes(':')),
        'IPv6 leases only',
      );
      const k = s.entries.find((x) => x.subnet === kKernel6.subnet6);
      assert.deepEqual(k, { subnet: kKernel6.subnet6, publicIp: v6[2], vtepMac: kKernel6.mac6, backend: 'vxlan' });
      const text = weftCli(n.ns, ['table']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(text.stdout, /^device flannel-v6\.1 {2}backend vxlan {2}IPv6-only\n/);
    }
  });

  test('all pairs ping6 each other (weft ↔ weft, weft ↔ kernel)', () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2, `${pods6.get(a)} -> ${pods6.get(b)}`);
      }
    }
  });

  test('checked transfers cross between weft and the kernel node both ways; no kernel rx errors', async () => {
    for (const w of weft) {
      for (const [from, to] of [
        [w, kernel],
        [kernel, w],
      ] as const) {
        const r = await transfer(from.ns, to.ns, pods6.get(to)!, 8 << 20, { fromIp: pods6.get(from)! });
        assert.equal(r.serverBytes, 8 << 20, `${from.ns.name} -> ${to.ns.name}`);
        assert.equal(r.serverSha256, r.sha256, `${from.ns.name} -> ${to.ns.name} content differs`);
      }
    }
    const stats = JSON.parse(kernel.ns.ip('-j', '-s', 'link', 'show', 'flannel-v6.1')) as [{ stats64: { rx: { errors: number } } }];
    assert.equal(stats[0].stats64.rx.errors, 0, 'flannel-v6.1 rx errors');
  });

  test('a second weft run takes the IPv6-only data plane over (no IPv4 interface): no ping6 from the kernel node lost', async () => {
    const n = weft[0]!;
    const old = n.agent!;
    await old.waitLog(/msg="listening for a successor/, 5000);
    const env = readFileSync(n.subnetFile, 'utf8');
    const before = tableOf(n);
    const stream = new PingStream(kernel.ns, pods6.get(n)!, { src: kKernel6.pod6, intervalMs: 10 });
    await until(() => stream.replies >= 30, 5000, 'ping6 stream flowing');
    const seen = stream.replies;
    const next = c.start(n, c.embeddedArgs(dataDir));
    await next.waitLog(/msg="data plane taken over from the previous process"/, 10_000);
    await old.exited;
    assert.equal(old.exitCode, 0, old.stderr);
    await next.waitReady(20_000);
    await until(() => stream.replies >= seen + 30, 5000, 'replies after the hand-off');
    const res = stream.snapshot();
    await stream.stop();
    assert.equal(res.lost, 0, `ping6 lost across the hand-off (longest reply gap ${res.longestGapMs} ms)`);
    assert.equal(readFileSync(n.subnetFile, 'utf8'), env, 'same subnet.env');
    const now = tableOf(n);
    assert.equal(now.vtepMacV6, before.vtepMacV6, 'same MAC');
    assert.deepEqual(now.entries, before.entries, 'same peers');
    assert.equal(n.ns.exec('ss', '-H', '-u', '-a', '-n', '-4').trim(), '', 'still no IPv4 socket');
  });

  test('a restart re-attaches the device and table early (no IPv4 interface needed): same lease, same MAC, ping6 on', async () => {
    const n = weft[0]!;
    const before = tableOf(n);
    const env = readFileSync(n.subnetFile, 'utf8');
    assert.equal((await n.agent!.stop()).code, 0);
    c.start(n, c.embeddedArgs(dataDir));
    await n.agent!.waitReady();
    assert.match(n.agent!.stderr, /msg="data plane re-attached before the store"/);
    assert.equal(readFileSync(n.subnetFile, 'utf8'), env);
    const after = tableOf(n);
    assert.equal(after.vtepMacV6, before.vtepMacV6);
    assert.equal(after.ipv6Subnet, before.ipv6Subnet);
    await meshed6();
    for (const peer of [weft[1]!, kernel]) {
      assert.equal(ping6(n, pods6.get(peer)!, pods6.get(n)!), 2);
      assert.equal(ping6(peer, pods6.get(n)!, pods6.get(peer)!), 2);
    }
  });

  test('weft cleanup after a stop removes the TUN device flannel-v6.1, the table, subnet.env and the state file', async () => {
    const n = weft[1]!;
    const tablePath = tableOf(n).tablePath;
    assert.equal((await n.agent!.stop()).code, 0);
    const r = weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(n.ns.ip('link', 'show'), /flannel-v6\.1/);
    assert.ok(!existsSync(tablePath), 'table removed');
    assert.ok(!existsSync(n.subnetFile), 'subnet.env removed');
    assert.ok(!existsSync(`${n.subnetFile}.weft.json`), 'state file removed');
    // A kernel flanneld's flannel-v6.1 (not a TUN) is left alone by a cleanup without a state file.
    const k = weftCli(kernel.ns, ['cleanup', '--subnet-file', join(c.dir, 'none', 'subnet.env')]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(kernel.ns.ip('link', 'show'), /flannel-v6\.1/);
  });
});
