// A 3-member etcd cluster loses a member to a partition (issue 12, item 3):
// each member in its own namespace on the test switch, two `weft run` agents
// given all three endpoints (as flanneld takes them), a 10 ms ping stream
// between their pods. The member holding the agents' lease watches is cut
// off from the other two by iptables rules inside its own namespace: it still
// answers the agents, but has no leader and goes stale. The watch carries
// etcd's require-leader metadata, so the member cancels it and the agents
// move to another member — not silently stuck on a member that will never
// send the next event. During the partition a lease is added and one
// deleted through the quorum. Asserts: both changes reach every agent, the
// cut-off member holds no watch any more, no lease lost, /readyz 200 again,
// forwarding never stops. Beside the agents, a bare EtcdStore watch on the
// same member (etcd-watcher.ts: no unary call that could fail over by
// chance) must receive both changes too: only require-leader moves it.

import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type { EtcdCluster } from '../helpers/etcd-cluster';
import { changesDuringFault, describeFigures, expectedKeys, kAdded, kDeleted, faultLab } from '../helpers/etcd-fault';
import { e2eUnavailable } from '../helpers/netns';
import { until } from '../helpers/weft-agent';
import type { Cluster, Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();

describe('a 3-member etcd cluster loses a member to a partition under traffic', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdCluster;

  before(async () => {
    ({ c, etcd } = await faultLab('epa'));
  });
  after(async () => {
    await c?.destroy();
    await etcd?.destroy();
  });

  test('the watched member cut off: its watches move, changes applied, no lease lost, ready again, forwarding kept', async () => {
    const agents = c.nodes as [Node, Node];
    // Both agents' watches are open somewhere: the member holding most of them is cut off.
    await until(() => etcd.members.reduce((s, m) => s + m.watchers(), 0) >= 2, 10_000, "both agents' watches open");
    const before = etcd.members.map((m) => m.watchers());
    const target = etcd.members[before.indexOf(Math.max(...before))]!;
    const wasLeader = etcd.leader() === target;
    // The bare watcher, restarted until its watch is on the target too.
    let watcher: ChildProcess | undefined;
    let seen: { type: string; subnet?: string; at: number }[] = [];
    for (let attempt = 0; attempt < 20 && !watcher; attempt++) {
      const child = agents[0].ns.spawn(process.execPath, [join(__dirname, 'etcd-watcher.js'), etcd.endpoints]);
      const lines: typeof seen = [];
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push({ ...(JSON.parse(l) as { type: string }), at: Date.now() }));
      await until(() => lines.some((l) => l.type === 'open'), 10_000, 'the bare watch open');
      if (target.watchers() === before[etcd.members.indexOf(target)]! + 1) {
        watcher = child;
        seen = lines;
      } else {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
    assert.ok(watcher, 'the bare watch never landed on the target member');
    let movedMs = -1;
    let tCut = 0;
    const f = await changesDuringFault(etcd, agents, async () => {
      const t = (tCut = Date.now());
      etcd.partition(target);
      // The cut-off member must drop the watches (require-leader), not keep them silently.
      void until(() => target.watchers() === 0, 20_000, 'the watches leave the cut-off member').then(
        () => (movedMs = Date.now() - t),
        () => undefined,
      );
    });
    await until(() => movedMs >= 0, 20_000, 'the watches leave the cut-off member');
    const bareAt = (type: string, subnet: string): number | undefined => seen.find((l) => l.type === type && l.subnet === subnet)?.at;
    await until(
      () => bareAt('put', kAdded) !== undefined && bareAt('delete', kDeleted) !== undefined,
      20_000,
      'the bare watch got both',
    ).catch(() => undefined);
    const bareMs = Math.max(bareAt('put', kAdded) ?? Infinity, bareAt('delete', kDeleted) ?? Infinity) - tCut;
    watcher.kill('SIGKILL');
    const after = etcd.members.map((m) => m.watchers());
    process.stdout.write(
      describeFigures(`etcd member partitioned (${target.endpoint}, ${wasLeader ? 'the leader' : 'a follower'})`, f) +
        `# watchers per member before ${before.join('/')}, after ${after.join('/')}; the cut-off member dropped its watches ${movedMs} ms after the cut; ` +
        `the bare EtcdStore watch got both changes ${bareMs} ms after the cut (${seen.filter((l) => l.type === 'error').length} watch errors)\n`,
    );

    assert.equal(f.eventsMissed, 0, `events missed: applied after ${f.appliedMs.join(', ')} ms`);
    assert.ok(Number.isFinite(bareMs), `the bare watch missed a change: ${JSON.stringify(seen)}`);
    assert.deepEqual(f.keys, expectedKeys(agents), 'no lease lost');
    assert.equal(target.watchers(), 0, 'no watch left on the cut-off member');
    assert.equal(f.pings.lost, 0, `lost ${f.pings.lost} pings`);
    assert.ok(agents.every((n) => n.agent!.running));
  });
});
