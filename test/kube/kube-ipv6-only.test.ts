// Kubernetes mode, IPv6-only vxlan (`"EnableIPv4": false`): two `weft run
// --kube-subnet-mgr` nodes with an IPv6 podCIDR only, no IPv4 on the
// underlay, and a kernel flanneld node with only flannel-v6.1, programmed from
// the weft nodes' annotations as flanneld does. The annotations are
// flanneld's for IPv6-only (backend-v6-data and public-ipv6; no backend-data,
// no public-ip); a node reuses the VtepMAC of its own backend-v6-data, as
// flanneld reads it; every directed pair pings over IPv6.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { netConfOf } from '../../src/cli/manifest-command';
import { ping6 } from '../helpers/dual-stack';
import { KubeOverlay, kP } from '../helpers/kube-overlay';
import { e2eUnavailable } from '../helpers/netns';
import { tableOf } from '../helpers/weft-agent';

const skip = e2eUnavailable();
// The net-conf.json `weft manifest --enable-ipv4=false --ipv6-network fd00:10:244::/56` ships in its ConfigMap.
const kConfig = netConfOf({ network: '10.244.0.0/16', ipv6Network: 'fd00:10:244::/56', enableIPv4: false, backend: 'vxlan' });
const kCidrs = ['fd00:10:244:1::/64', 'fd00:10:244:2::/64', 'fd00:10:244:63::/64'];
const kEarlierMac = '0e:5a:00:00:06:01';
const kKernelMac6 = '0e:2a:0a:f4:63:06';

describe('Kubernetes mode, IPv6-only vxlan: two weft nodes and a kernel flannel-v6.1 node', { skip }, () => {
  let k: KubeOverlay;
  const names = ['node-1', 'node-2', 'node-k'];

  before(async () => {
    k = new KubeOverlay({
      prefix: 'k6o',
      config: kConfig,
      ipv4Underlay: false, // no IPv4 underlay at all
      weft: [
        {
          name: 'node-1',
          podCIDRs: [kCidrs[0]!],
          // node-1 ran before: its own backend-v6-data holds the MAC it must reuse.
          annotations: ({ ip6 }) => ({
            [`${kP}backend-type`]: 'vxlan',
            [`${kP}backend-v6-data`]: `{"VNI":1,"VtepMAC":"${kEarlierMac}"}`,
            [`${kP}kube-subnet-manager`]: 'true',
            [`${kP}public-ipv6`]: ip6,
          }),
        },
        { name: 'node-2', podCIDRs: [kCidrs[1]!] },
      ],
      kernel: { name: 'node-k', podCIDRs: [kCidrs[2]!], mac6: kKernelMac6 },
    });
    await k.start();
  });
  after(async () => {
    await k?.destroy();
  });

  test("annotations are flanneld's IPv6-only ones, node-1 reuses the MAC of its backend-v6-data, subnet.env has no IPv4 lines", () => {
    const { weft, v6 } = k;
    assert.match(weft[0]!.agent!.stderr, new RegExp(`msg=VtepMAC vtepMac=${kEarlierMac} from=store`));
    weft.forEach((n, i) => {
      const a = k.annotations(names[i]!);
      const mac = tableOf(n).vtepMacV6!;
      if (i === 0) assert.equal(mac, kEarlierMac);
      assert.equal(a[`${kP}backend-v6-data`], `{"VNI":1,"VtepMAC":"${mac}"}`);
      assert.equal(a[`${kP}public-ipv6`], v6[i]);
      assert.equal(a[`${kP}backend-data`], undefined, 'no backend-data on an IPv6-only vxlan node');
      assert.equal(a[`${kP}public-ip`], undefined, 'no public-ip on an IPv6-only vxlan node');
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:${i + 1}::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      const e = tableOf(n).entries.find((x) => x.subnet === kCidrs[2]);
      assert.deepEqual(e, { subnet: kCidrs[2], publicIp: v6[2], vtepMac: kKernelMac6, backend: 'vxlan' });
    });
  });

  test('all six directed pairs ping over IPv6', () => {
    const { c, pods6 } = k;
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a !== b) assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2, `${pods6.get(a)} -> ${pods6.get(b)}`);
      }
    }
  });
});
