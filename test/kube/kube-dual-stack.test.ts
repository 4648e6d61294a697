// Kubernetes mode, dual stack, vxlan: two `weft run --kube-subnet-mgr` nodes
// with an IPv4 and an IPv6 podCIDR each, and one kernel flanneld node
// (flannel.1 + flannel-v6.1, two MACs) programmed from the weft nodes'
// annotations as flanneld does. The annotations weft writes carry
// backend-v6-data and public-ipv6; every directed pair pings over both
// families; a checked IPv6 transfer crosses weft <-> kernel both ways.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { addV6Underlay, learn6, ping6 } from '../helpers/dual-stack';
import { KubeApiServer } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping, transfer } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { tableOf, until } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}';
const kP = 'flannel.alpha.coreos.com/';
const kCidrs = [
  ['10.244.1.0/24', 'fd00:10:244:1::/64'],
  ['10.244.2.0/24', 'fd00:10:244:2::/64'],
  ['10.244.99.0/24', 'fd00:10:244:63::/64'],
] as const;
const kKernelMac = '0e:2a:0a:f4:63:00';
const kKernelMac6 = '0e:2a:0a:f4:63:06';

describe('Kubernetes mode, dual stack: two weft vxlan nodes and a kernel flannel.1 + flannel-v6.1 node', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  let weft: Node[];
  let kernel: Node;
  let v6: string[];
  const pods6 = new Map<Node, string>();
  const names = ['node-1', 'node-2', 'node-k'];

  before(async () => {
    api = new KubeApiServer();
    await api.start();
    c = new Cluster('kds', 3, kConfig);
    v6 = addV6Underlay(c);
    weft = [c.nodes[0]!, c.nodes[1]!];
    kernel = c.nodes[2]!;
    api.addNode('node-1', { podCIDRs: [...kCidrs[0]] });
    api.addNode('node-2', { podCIDRs: [...kCidrs[1]] });
    api.addNode('node-k', {
      podCIDRs: [...kCidrs[2]],
      annotations: {
        [`${kP}backend-data`]: `{"VNI":1,"VtepMAC":"${kKernelMac}"}`,
        [`${kP}backend-type`]: 'vxlan',
        [`${kP}backend-v6-data`]: `{"VNI":1,"VtepMAC":"${kKernelMac6}"}`,
        [`${kP}kube-subnet-manager`]: 'true',
        [`${kP}public-ip`]: kernel.ip,
        [`${kP}public-ipv6`]: v6[2]!,
      },
    });
    kernelVxlanNode(kernel.ns, { publicIp: kernel.ip, subnet: kCidrs[2][0], mac: kKernelMac });
    kernelVxlanNode(kernel.ns, { publicIp: v6[2]!, subnet: kCidrs[2][1], mac: kKernelMac6, wireFrames: false });
    kernel.subnet = kCidrs[2][0];
    kernel.pod = '10.244.99.5';
    kernel.ns.ip('addr', 'add', '10.244.99.5/32', 'dev', 'lo');
    kernel.ns.ip('-6', 'addr', 'add', 'fd00:10:244:63::5/128', 'dev', 'lo');
    pods6.set(kernel, 'fd00:10:244:63::5');
    const kubeconfig = api.kubeconfig();
    for (const n of weft) api.proxyIn(n.ns);
    for (const n of weft) await api.proxyReady(n.ns);
    weft.forEach((n, i) =>
      c.start(n, ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', c.configFile], { NODE_NAME: names[i]! }),
    );
    for (const n of weft) {
      await n.agent!.waitReady();
      c.learn(n);
      pods6.set(n, learn6(n));
    }
    // flanneld on the kernel node: both devices programmed from each weft node's annotations.
    for (const [i, name] of ['node-1', 'node-2'].entries()) {
      const a = api.nodes.get(name)!.metadata.annotations;
      const mac = (JSON.parse(a[`${kP}backend-data`]!) as { VtepMAC: string }).VtepMAC;
      const mac6 = (JSON.parse(a[`${kP}backend-v6-data`]!) as { VtepMAC: string }).VtepMAC;
      kernelVxlanPeer(kernel.ns, { subnet: kCidrs[i]![0], publicIp: a[`${kP}public-ip`]!, mac });
      kernelVxlanPeer(kernel.ns, { subnet: kCidrs[i]![1], publicIp: a[`${kP}public-ipv6`]!, mac: mac6 }, 'flannel-v6.1');
    }
    for (const n of weft) {
      await until(
        () => {
          const subnets = new Set(tableOf(n).entries.map((e) => e.subnet));
          return kCidrs.every(([s4, s6]) => s4 === n.subnet || (subnets.has(s4) && subnets.has(s6)));
        },
        8000,
        `every peer lease in ${n.ns.name}'s table`,
      );
    }
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  test('each weft node took both podCIDRs, wrote subnet.env from them, annotated backend-v6-data and public-ipv6 as flanneld', () => {
    weft.forEach((n, i) => {
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${i + 1}.1/24\n` +
          `FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:${i + 1}::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      const a = api.nodes.get(names[i]!)!.metadata.annotations;
      const mac = tableOf(n).vtepMac!;
      assert.equal(a[`${kP}backend-data`], `{"VNI":1,"VtepMAC":"${mac}"}`);
      assert.equal(a[`${kP}backend-v6-data`], `{"VNI":1,"VtepMAC":"${mac}"}`, "weft's one device: the same MAC for IPv6 frames");
      assert.equal(a[`${kP}public-ipv6`], v6[i]);
      const e = tableOf(n).entries.find((x) => x.subnet === kCidrs[2][1]);
      assert.deepEqual(e, { subnet: kCidrs[2][1], publicIp: v6[2], vtepMac: kKernelMac6, backend: 'vxlan' });
    });
  });

  test('all six directed pairs ping over IPv4 and IPv6; checked IPv6 transfers cross weft <-> kernel both ways', async () => {
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} -> ${b.pod}`);
        assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2, `${pods6.get(a)} -> ${pods6.get(b)}`);
      }
    }
    for (const [from, to] of [
      [weft[0]!, kernel],
      [kernel, weft[1]!],
    ] as const) {
      const r = await transfer(from.ns, to.ns, pods6.get(to)!, 4 << 20, { fromIp: pods6.get(from)! });
      assert.equal(r.serverBytes, 4 << 20);
      assert.equal(r.serverSha256, r.sha256, `${pods6.get(from)} -> ${pods6.get(to)} content differs`);
    }
  });
});
