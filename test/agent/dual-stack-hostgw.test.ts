// Dual stack and IPv6-only through real `weft run` processes with the host-gw
// backend (kernel routes only, so this runs without the IPv6 data plane):
// three dual-stack nodes on the embedded store, every pair pinging on both
// families; lease JSON, keys and subnet.env byte-exact; an IPv6-only
// cluster; and a bad IPv6 config rejected with flannel's message and
// nothing configured.

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatCidr6 } from '../../src/net/cidr6';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { makeSubnetKey } from '../../src/store/keys';
import { encodeLeaseAttrs } from '../../src/store/lease-json';
import { addV6Underlay, ping6, startOnEmbeddedStore, subnet6Of } from '../helpers/dual-stack';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();

/**
 * Ready means a node's own lease and rules are in place; its route to a peer
 * comes when its watcher sees that peer's lease: wait for every one.
 */
async function peerRoutes(c: Cluster): Promise<void> {
  for (const n of c.nodes) {
    for (const peer of c.nodes) {
      if (peer === n) continue;
      const sub = subnet6Of(peer);
      await until(() => n.ns.ip('-6', 'route', 'show').includes(`${sub} via`), 5000, `IPv6 route to ${sub}`);
      if (peer.subnet) await until(() => n.ns.ip('route', 'show').includes(`${peer.subnet} via`), 5000, `route to ${peer.subnet}`);
    }
  }
}

describe('three dual-stack host-gw agents on the embedded store', { skip }, () => {
  let c: Cluster;
  let v6: string[];
  const pods6 = new Map<Node, string>();
  before(async () => {
    c = new Cluster(
      'dsh',
      3,
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"host-gw"}}',
    );
    v6 = addV6Underlay(c);
    await startOnEmbeddedStore(c, pods6);
  });
  after(() => c?.destroy());

  test('leases are dual-stack keys with PublicIPv6, subnet.env has the IPv6 lines byte for byte', async () => {
    const store = new EmbeddedStore({ dataDir: join(c.dir, 'data') });
    const { leases } = await store.list();
    await store.close();
    assert.equal(leases.length, 3);
    c.nodes.forEach((n, i) => {
      const l = leases.find((x) => x.attrs.publicIp === n.ip)!;
      assert.ok(l.ipv6Subnet && l.ipv6Subnet.prefixLen === 64);
      assert.match(makeSubnetKey(l.subnet, l.ipv6Subnet), /^10\.244\.\d+\.0-24&fd00:10:244:[0-9a-f]+::-64$/);
      assert.equal(encodeLeaseAttrs(l.attrs), `{"PublicIP":"${n.ip}","PublicIPv6":"${v6[i]}","BackendType":"host-gw"}`);
      const sub6 = formatCidr6(l.ipv6Subnet);
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=${n.subnet!.replace('.0/24', '.1/24')}\n` +
          `FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=${sub6.replace('::/64', '::1/64')}\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n`,
      );
    });
  });

  test('every pair pings over IPv4 and IPv6, through routes via the peer PublicIP / PublicIPv6', async () => {
    await peerRoutes(c);
    for (const a of c.nodes) {
      for (const b of c.nodes) {
        if (a === b) continue;
        assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} -> ${b.pod}`);
        assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2, `${pods6.get(a)} -> ${pods6.get(b)}`);
      }
      const peer = c.nodes.find((p) => p !== a)!;
      const i = c.nodes.indexOf(peer);
      assert.match(a.ns.ip('-6', 'route', 'show'), new RegExp(`fd00:10:244:[0-9a-f]+::/64 via 2001:2::${i + 1} dev ul`));
      assert.match(
        a.ns.exec('ip6tables', '-S', 'FLANNEL-FWD'),
        /-A FLANNEL-FWD -s fd00:10:244::\/56 -m comment --comment "flanneld forward" -j ACCEPT/,
      );
    }
  });
  test('weft cleanup after a stop removes the IPv6 routes and ip6tables rules too (the lease stays)', async () => {
    const n = c.nodes[0]!;
    assert.equal((await n.agent!.stop()).code, 0);
    assert.match(n.ns.ip('-6', 'route', 'show'), /fd00:10:244:[0-9a-f]+::\/64 via 2001:2::/, 'flannel keeps routes after a stop');
    const r = weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(n.ns.ip('-6', 'route', 'show'), /fd00:10:244:[0-9a-f]+::\/64/);
    assert.doesNotMatch(n.ns.ip('route', 'show'), /10\.244\./);
    assert.doesNotMatch(n.ns.exec('ip6tables', '-S') + n.ns.exec('ip6tables', '-t', 'nat', '-S'), /FLANNEL|fd00:10:244/);
    assert.ok(!existsSync(n.subnetFile), 'subnet.env removed');
  });
});

describe('an IPv6-only host-gw cluster (EnableIPv4 false)', { skip }, () => {
  let c: Cluster;
  const pods6 = new Map<Node, string>();
  before(async () => {
    c = new Cluster('v6o', 2, '{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"host-gw"}}');
    addV6Underlay(c);
    for (const n of c.nodes) n.ns.ip('-4', 'addr', 'flush', 'dev', 'ul'); // no IPv4 at all
    await startOnEmbeddedStore(c, pods6);
  });
  after(() => c?.destroy());

  test('each node holds its own /64 under a 0.0.0.0-0& key, subnet.env has no IPv4 lines, pods ping over IPv6', async () => {
    const store = new EmbeddedStore({ dataDir: join(c.dir, 'data') });
    const { leases } = await store.list();
    await store.close();
    assert.equal(leases.length, 2);
    assert.notEqual(formatCidr6(leases[0]!.ipv6Subnet!), formatCidr6(leases[1]!.ipv6Subnet!));
    for (const l of leases) assert.match(makeSubnetKey(l.subnet, l.ipv6Subnet), /^0\.0\.0\.0-0&fd00:10:244:[0-9a-f]+::-64$/);
    for (const n of c.nodes)
      assert.match(
        readFileSync(n.subnetFile, 'utf8'),
        /^FLANNEL_IPV6_NETWORK=fd00:10:244::\/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:[0-9a-f]+::1\/64\nFLANNEL_MTU=1500\nFLANNEL_IPMASQ=false\n$/,
      );
    const [a, b] = c.nodes as [Node, Node];
    await peerRoutes(c);
    assert.equal(ping6(a, pods6.get(b)!, pods6.get(a)!), 2);
    assert.equal(ping6(b, pods6.get(a)!, pods6.get(b)!), 2);
  });
});

describe('a bad IPv6 config', { skip }, () => {
  let c: Cluster;
  before(() => {
    c = new Cluster('v6bad', 1, '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/125","Backend":{"Type":"host-gw"}}');
  });
  after(() => c?.destroy());

  test("is rejected with flannel's message naming IPv6Network (exit 2), nothing configured", async () => {
    const n = c.nodes[0]!;
    const agent = c.start(n, c.embeddedArgs(join(c.dir, 'data')));
    const deadline = Date.now() + 15_000;
    while (agent.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(agent.exitCode, 2, agent.stderr);
    assert.match(agent.stderr, /IPv6Network is too small\. Minimum useful network prefix is \/124/);
    assert.match(agent.stderr, /IPv6Network/);
    assert.equal(existsSync(n.subnetFile), false);
    assert.doesNotMatch(n.ns.ip('-6', 'route', 'show'), /fd00::/);
    assert.doesNotMatch(n.ns.exec('ip6tables-save'), /FLANNEL/);
  });
});
