// A real 3-member etcd cluster losing its leader (issue 12, item 3): each
// member in its own namespace on the test switch; two `weft run` agents given
// all three endpoints (as flanneld takes them); a 10 ms ping stream between
// their pods. The leader is killed; during the election a lease is added and
// one deleted through a surviving member. Asserts: both changes reach the
// agent's table, no lease lost, /readyz 200 again, forwarding never stops.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { EtcdInNs } from '../helpers/etcd-ns';
import { e2eUnavailable } from '../helpers/netns';
import { PingStream } from '../helpers/ping-stream';
import { httpGet, until, weftCli } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';
const lease = (ip: string, mac: string): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;
const subnetsOf = (n: Node): Set<string> =>
  new Set((JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats).entries.map((e) => e.subnet));

describe('a 3-member etcd cluster loses its leader under traffic', { skip }, () => {
  let c: Cluster;
  let members: EtcdInNs[] = [];

  before(async () => {
    // Nodes 1-2 run agents; nodes 3-5 are the etcd members (198.18.0.3-5).
    c = new Cluster('eld', 5, kConfig);
    const hosts = c.nodes.slice(2);
    const cluster = hosts.map((h, i) => ({ name: `m${i + 1}`, ip: h.ip }));
    members = hosts.map((h, i) => new EtcdInNs(h.ns, h.ip, { name: `m${i + 1}`, cluster }));
    for (const m of members) await m.start({ wait: false });
    await until(
      () => {
        try {
          members[0]!.ctl('endpoint', 'health');
          return true;
        } catch {
          return false;
        }
      },
      30_000,
      'etcd cluster healthy',
    );
    members[0]!.ctl('put', `${kPrefix}/config`, kConfig);
    members[0]!.ctl('put', `${kPrefix}/subnets/10.244.200.0-24`, lease('198.18.0.201', '0e:5a:00:00:00:c8'));
    const endpoints = members.map((m) => m.endpoint).join(',');
    for (const n of c.nodes.slice(0, 2)) c.start(n, ['--etcd-endpoints', endpoints, '--healthz-ip', '127.0.0.1', '--healthz-port', '8081']);
    for (const n of c.nodes.slice(0, 2)) {
      await n.agent!.waitReady(30_000);
      c.learn(n);
    }
  });
  after(async () => {
    await c?.destroy();
    for (const m of members) await m.stop();
  });

  test('leader killed: changes during the election applied, no lease lost, ready again, forwarding kept', async () => {
    const [a, b] = c.nodes as [Node, Node];
    await until(() => subnetsOf(a).has('10.244.200.0/24'), 10_000, 'the fake lease in the table');
    const stream = new PingStream(a.ns, b.pod!, { src: a.pod! });
    await until(() => stream.replies >= 20, 5000, 'pings flowing');
    const status = JSON.parse(
      members[0]!
        .ctl('endpoint', 'status', '--cluster', '-w', 'json')
        .replace(/"(member_id|leader|cluster_id|raft_term|raft_index|revision|raftAppliedIndex|raft_applied_index)":(\d+)/g, '"$1":"$2"'),
    ) as { Endpoint: string; Status: { header: { member_id: string }; leader: string } }[];
    const leaderEp = status.find((s) => s.Status.header.member_id === s.Status.leader)!.Endpoint;
    const leader = members.find((m) => m.endpoint === leaderEp)!;
    const survivor = members.find((m) => m !== leader)!;
    const tKill = Date.now();
    await leader.crash();
    // During the election (the ctl retries until a new leader takes the writes).
    await until(
      () => {
        try {
          survivor.ctl('put', `${kPrefix}/subnets/10.244.201.0-24`, lease('198.18.0.202', '0e:5a:00:00:00:c9'));
          return true;
        } catch {
          return false;
        }
      },
      20_000,
      'a write through a survivor',
    );
    const writeMs = Date.now() - tKill;
    survivor.ctl('del', `${kPrefix}/subnets/10.244.200.0-24`);
    await until(
      () => {
        const s = subnetsOf(a);
        return s.has('10.244.201.0/24') && !s.has('10.244.200.0/24');
      },
      20_000,
      'the add and the delete applied',
    );
    const appliedMs = Date.now() - tKill;
    await until(
      () => httpGet(a.ns, 'http://127.0.0.1:8081/readyz').status === 200 && httpGet(b.ns, 'http://127.0.0.1:8081/readyz').status === 200,
      30_000,
      'ready',
    );
    const readyMs = Date.now() - tKill;
    await new Promise((r) => setTimeout(r, 1000));
    const pings = await stream.stop();
    const keys = survivor
      .getPrefix(`${kPrefix}/subnets/`)
      .map((k) => k.key)
      .sort();
    process.stdout.write(
      `# etcd leader loss: write accepted ${writeMs} ms after the kill, add+delete in the table after ${appliedMs} ms, ` +
        `/readyz 200 on both after ${readyMs} ms; pings ${pings.received}/${pings.sent}, lost ${pings.lost}, longest gap ${pings.longestGapMs} ms\n`,
    );

    assert.deepEqual(
      keys,
      [
        `${kPrefix}/subnets/${a.subnet!.replace('/', '-')}`,
        `${kPrefix}/subnets/${b.subnet!.replace('/', '-')}`,
        `${kPrefix}/subnets/10.244.201.0-24`,
      ].sort(),
      'no lease lost',
    );
    assert.ok(subnetsOf(a).has(b.subnet!) && subnetsOf(b).has(a.subnet!), 'peers kept');
    assert.equal(pings.lost, 0, `lost ${pings.lost} pings`);
    assert.ok(a.agent!.running && b.agent!.running);
  });
});
