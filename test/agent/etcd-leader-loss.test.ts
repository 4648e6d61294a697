// A real 3-member etcd cluster losing its leader (issue 12, item 3): each
// member in its own namespace on the test switch; two `weft run` agents given
// all three endpoints (as flanneld takes them); a 10 ms ping stream between
// their pods. The leader is killed; during the election a lease is added and
// one deleted through a surviving member. Asserts: both changes reach every
// agent's table (no event missed), no lease lost, /readyz 200 again,
// forwarding never stops. The scenario is etcd-fault.ts's, shared with the
// partition test.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { EtcdCluster } from '../helpers/etcd-cluster';
import { changesDuringFault, describeFigures, expectedKeys, faultLab } from '../helpers/etcd-fault';
import { e2eUnavailable } from '../helpers/netns';
import { tableSubnets } from '../helpers/table-equals-store';
import type { Cluster, Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();

describe('a 3-member etcd cluster loses its leader under traffic', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdCluster;

  before(async () => {
    ({ c, etcd } = await faultLab('eld'));
  });
  after(async () => {
    await c?.destroy();
    await etcd?.destroy();
  });

  test('leader killed: changes during the election applied, no lease lost, ready again, forwarding kept', async () => {
    const agents = c.nodes as [Node, Node];
    const leader = etcd.leader();
    const f = await changesDuringFault(etcd, agents, () => leader.crash());
    process.stdout.write(describeFigures(`etcd leader loss (${leader.endpoint} killed)`, f));

    assert.equal(f.eventsMissed, 0, `events missed: applied after ${f.appliedMs.join(', ')} ms`);
    assert.deepEqual(f.keys, expectedKeys(agents), 'no lease lost');
    const [a, b] = agents;
    assert.ok(tableSubnets(a).has(b.subnet!) && tableSubnets(b).has(a.subnet!), 'peers kept');
    assert.equal(f.pings.lost, 0, `lost ${f.pings.lost} pings`);
    assert.ok(a.agent!.running && b.agent!.running);
  });
});
