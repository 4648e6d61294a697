// --ip-blackhole-route, as flanneld's: a dual-stack `weft run` adds a
// blackhole route for its own lease in each family, re-adds one that was
// deleted within the --iptables-resync period, keeps both after a stop, and
// `weft cleanup` removes them. Pods keep forwarding (their addresses are
// local, which the local table decides before the blackhole).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addV6Underlay, ping6, startOnEmbeddedStore, subnet6Of } from '../helpers/dual-stack';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { until, weftCli } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();

const blackholes = (n: Node, family: '-4' | '-6') =>
  (JSON.parse(n.ns.ip('-j', family, 'route', 'show', 'type', 'blackhole')) as { dst: string }[]).map((r) => r.dst);

describe('--ip-blackhole-route (dual stack, host-gw)', { skip }, () => {
  let c: Cluster;
  const pods6 = new Map<Node, string>();
  before(async () => {
    c = new Cluster('bh', 2, '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"host-gw"}}');
    addV6Underlay(c);
    await startOnEmbeddedStore(c, pods6, c.nodes, ['--ip-blackhole-route', '--iptables-resync', '1']);
  });
  after(() => c?.destroy());

  test('each node has a blackhole route for its IPv4 and its IPv6 lease; pods still reach each other', async () => {
    for (const n of c.nodes) {
      assert.deepEqual(blackholes(n, '-4'), [n.subnet]);
      assert.deepEqual(blackholes(n, '-6'), [subnet6Of(n)]);
    }
    const [a, b] = c.nodes as [Node, Node];
    await until(() => ping(a.ns, b.pod!, { src: a.pod!, count: 1 }) === 1, 8000, 'IPv4 ping a -> b');
    await until(() => ping6(b, pods6.get(a)!, pods6.get(b)!, 1) === 1, 8000, 'IPv6 ping b -> a');
  });

  test('a deleted blackhole route is back within the resync period', async () => {
    const n = c.nodes[0]!;
    n.ns.ip('route', 'del', 'blackhole', n.subnet!);
    n.ns.ip('-6', 'route', 'del', 'blackhole', subnet6Of(n));
    assert.deepEqual(blackholes(n, '-4'), []);
    await until(() => blackholes(n, '-4').length === 1 && blackholes(n, '-6').length === 1, 5000, 'blackhole routes re-added');
    assert.deepEqual([blackholes(n, '-4'), blackholes(n, '-6')], [[n.subnet], [subnet6Of(n)]]);
  });

  test('they stay after a stop, as flanneld leaves them; weft cleanup removes them', async () => {
    const n = c.nodes[1]!;
    const sub6 = subnet6Of(n);
    assert.equal((await n.agent!.stop()).code, 0);
    assert.deepEqual([blackholes(n, '-4'), blackholes(n, '-6')], [[n.subnet], [sub6]]);
    const r = weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed blackhole route/);
    assert.deepEqual([blackholes(n, '-4'), blackholes(n, '-6')], [[], []]);
  });
});
