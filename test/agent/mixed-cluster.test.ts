// Mixed cluster on etcd: two `weft run` vxlan agents and one node that
// behaves exactly like flanneld with kernel VXLAN — its lease written to
// etcd in flannel's JSON on a 24 h etcd lease, its flannel.1 programmed from
// the weft leases as flanneld would (neighbour, FDB, onlink route). Every
// pair reaches each other both ways.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { e2eUnavailable } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping, transfer } from '../helpers/overlay';
import { EtcdInNs } from '../helpers/etcd-ns';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { weftCli, until } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const kPrefix = '/coreos.com/network';
const kKernelMac = '0e:2a:0a:f4:63:00';
const kKernelSubnet = '10.244.99.0/24';

describe('mixed cluster: two weft vxlan agents and a kernel-VXLAN flanneld node', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdInNs;
  let weft: Node[];
  let kernel: Node;

  before(async () => {
    c = new Cluster('mix', 3, kConfig);
    c.sw.ip('addr', 'add', '198.18.0.100/24', 'dev', 'br0');
    etcd = new EtcdInNs(c.sw, '198.18.0.100');
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    weft = [c.nodes[0]!, c.nodes[1]!];
    kernel = c.nodes[2]!;
    // The "flanneld" node: its lease exactly as flanneld writes it, then its flannel.1.
    const lease = etcd.grant(86400);
    etcd.ctl(
      'put',
      `--lease=${lease}`,
      `${kPrefix}/subnets/${kKernelSubnet.replace('/', '-')}`,
      `{"PublicIP":"${kernel.ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${kKernelMac}"}}`,
    );
    kernelVxlanNode(kernel.ns, { publicIp: kernel.ip, subnet: kKernelSubnet, mac: kKernelMac });
    kernel.subnet = kKernelSubnet;
    kernel.pod = '10.244.99.5';
    kernel.ns.ip('addr', 'add', '10.244.99.5/32', 'dev', 'lo');
    for (const n of weft) c.start(n, ['--etcd-endpoints', etcd.endpoint]);
    for (const n of weft) {
      await n.agent!.waitReady();
      c.learn(n);
    }
    // flanneld's watch on the kernel node: program every weft lease read from etcd.
    for (const kv of etcd.getPrefix(`${kPrefix}/subnets/`)) {
      const v = JSON.parse(kv.value) as { PublicIP: string; BackendData: { VtepMAC: string } };
      const subnet = kv.key.slice(kv.key.lastIndexOf('/') + 1).replace('-', '/');
      if (subnet === kKernelSubnet) continue;
      kernelVxlanPeer(kernel.ns, { subnet, publicIp: v.PublicIP, mac: v.BackendData.VtepMAC });
    }
  });
  after(async () => {
    await c?.destroy();
    await etcd?.stop();
  });

  test("the weft nodes program the kernel node's lease from etcd", async () => {
    for (const n of weft) {
      await until(
        () => {
          const s = JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats;
          return s.entries.some((e) => e.subnet === kKernelSubnet && e.publicIp === kernel.ip && e.vtepMac === kKernelMac);
        },
        5000,
        'kernel lease in the weft table',
      );
    }
  });

  test('all pairs ping each other both ways', () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) if (a !== b) assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} → ${b.pod}`);
    }
  });

  test('checked transfers cross between weft and the kernel node both ways', async () => {
    for (const w of weft) {
      for (const [from, to] of [
        [w, kernel],
        [kernel, w],
      ] as const) {
        const r = await transfer(from.ns, to.ns, to.pod!, 8 << 20, { fromIp: from.pod! });
        assert.equal(r.serverBytes, 8 << 20);
        assert.equal(r.serverSha256, r.sha256, `${from.pod} → ${to.pod} content differs`);
      }
    }
  });
});
