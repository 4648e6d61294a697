// Kubernetes mode, dual stack, vxlan: two `weft run --kube-subnet-mgr` nodes
// with an IPv4 and an IPv6 podCIDR each, and one kernel flanneld node
// (flannel.1 + flannel-v6.1, two MACs) programmed from the weft nodes'
// annotations as flanneld does. The annotations weft writes carry
// backend-v6-data and public-ipv6; every directed pair pings over both
// families; a checked IPv6 transfer crosses weft <-> kernel both ways.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { netConfOf } from '../../src/cli/manifest-command';
import { ping6 } from '../helpers/dual-stack';
import { KubeOverlay, kP } from '../helpers/kube-overlay';
import { e2eUnavailable } from '../helpers/netns';
import { ping, transfer } from '../helpers/overlay';
import { tableOf } from '../helpers/weft-agent';

const skip = e2eUnavailable();
// The net-conf.json `weft manifest --ipv6-network fd00:10:244::/56` ships in its ConfigMap.
const kConfig = netConfOf({ network: '10.244.0.0/16', ipv6Network: 'fd00:10:244::/56', enableIPv4: true, backend: 'vxlan' });
const kCidrs = [
  ['10.244.1.0/24', 'fd00:10:244:1::/64'],
  ['10.244.2.0/24', 'fd00:10:244:2::/64'],
  ['10.244.99.0/24', 'fd00:10:244:63::/64'],
] as const;
const kKernelMac = '0e:2a:0a:f4:63:00';
const kKernelMac6 = '0e:2a:0a:f4:63:06';

describe('Kubernetes mode, dual stack: two weft vxlan nodes and a kernel flannel.1 + flannel-v6.1 node', { skip }, () => {
  let k: KubeOverlay;
  const names = ['node-1', 'node-2', 'node-k'];

  before(async () => {
    k = new KubeOverlay({
      prefix: 'kds',
      config: kConfig,
      weft: [
        { name: 'node-1', podCIDRs: kCidrs[0] },
        { name: 'node-2', podCIDRs: kCidrs[1] },
      ],
      kernel: { name: 'node-k', podCIDRs: kCidrs[2], mac: kKernelMac, mac6: kKernelMac6 },
    });
    await k.start();
  });
  after(async () => {
    await k?.destroy();
  });

  test('each weft node took both podCIDRs, wrote subnet.env from them, annotated backend-v6-data and public-ipv6 as flanneld', () => {
    const { weft, v6 } = k;
    weft.forEach((n, i) => {
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${i + 1}.1/24\n` +
          `FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:${i + 1}::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      const a = k.annotations(names[i]!);
      const mac = tableOf(n).vtepMac!;
      assert.equal(a[`${kP}backend-data`], `{"VNI":1,"VtepMAC":"${mac}"}`);
      assert.equal(a[`${kP}backend-v6-data`], `{"VNI":1,"VtepMAC":"${mac}"}`, "weft's one device: the same MAC for IPv6 frames");
      assert.equal(a[`${kP}public-ipv6`], v6[i]);
      const e = tableOf(n).entries.find((x) => x.subnet === kCidrs[2][1]);
      assert.deepEqual(e, { subnet: kCidrs[2][1], publicIp: v6[2], vtepMac: kKernelMac6, backend: 'vxlan' });
    });
  });

  test('all six directed pairs ping over IPv4 and IPv6; checked IPv6 transfers cross weft <-> kernel both ways', async () => {
    const { c, weft, kernel, pods6 } = k;
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
