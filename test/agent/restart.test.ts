// Restarts without dropping traffic (issue 6, item 5): two `weft run` vxlan
// agents on a real etcd (inside the switch namespace), a 10 ms ping stream
// from B's pod to A's pod while A is restarted — SIGTERM then start, and
// SIGKILL then start, several times each, plus one round of each with A cut
// off from etcd (an iptables reject inside A's namespace) to show that
// forwarding resumes before the store is reached. The restarted agent keeps
// its subnet, VtepMAC and lease, re-attaches to its table and persistent TUN.
// Gap = lost pings × 10 ms, and the longest silence between two replies.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { EtcdInNs } from '../helpers/etcd-ns';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { PingStream, median } from '../helpers/ping-stream';
import { httpGet, tableOf, until } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';
const kRounds = 3;

interface Round {
  signal: 'SIGTERM' | 'SIGKILL';
  storeBlocked: boolean;
  lost: number;
  gapMs: number;
  longestGapMs: number;
  /** lost × the interval ping really kept. */
  lostTimeMs: number;
  /** Signal sent → the new process logged its re-attached data plane. */
  downMs: number;
}

describe('restarts of weft run without dropping traffic (etcd, vxlan)', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdInNs;
  const rounds: Round[] = [];
  const args = (): string[] => ['--etcd-endpoints', etcd.endpoint, '--healthz-ip', '127.0.0.1', '--healthz-port', '8081'];

  before(async () => {
    c = new Cluster('rst', 2, kConfig);
    c.sw.ip('addr', 'add', '198.18.0.100/24', 'dev', 'br0');
    etcd = new EtcdInNs(c.sw, '198.18.0.100');
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    for (const n of c.nodes) c.start(n, args());
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
    }
    await c.untilMeshed();
  });
  after(async () => {
    if (rounds.length > 0) {
      const fmt = (sig: string): string => {
        const r = rounds.filter((x) => x.signal === sig);
        return (
          `${sig}: gap median ${median(r.map((x) => x.gapMs))} ms (lost×10 ms: ${r.map((x) => x.gapMs).join(', ')}; ` +
          `lost × real interval: ${r.map((x) => x.lostTimeMs).join(', ')} ms; longest reply gap: ${r.map((x) => x.longestGapMs).join(', ')} ms (median ${median(r.map((x) => x.longestGapMs))}); down→re-attached: ${r.map((x) => x.downMs).join(', ')} ms; ` +
          `store blocked in round(s) ${r
            .map((x, i) => (x.storeBlocked ? i + 1 : 0))
            .filter((i) => i > 0)
            .join(',')})`
        );
      };
      process.stdout.write(`# restart gaps\n# ${fmt('SIGTERM')}\n# ${fmt('SIGKILL')}\n`);
    }
    await c?.destroy();
    await etcd?.stop();
  });

  async function restart(signal: 'SIGTERM' | 'SIGKILL', storeBlocked: boolean): Promise<Round> {
    const [a, b] = c.nodes as [Node, Node];
    const mac = tableOf(a).vtepMac!;
    const env = readFileSync(a.subnetFile, 'utf8');
    const leasesBefore = etcd
      .getPrefix(`${kPrefix}/subnets/`)
      .map((k) => `${k.key} ${k.value}`)
      .sort();
    const entriesBefore = tableOf(a).entries;
    const block = ['OUTPUT', '-p', 'tcp', '-d', '198.18.0.100', '--dport', '2379', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    const stream = new PingStream(b.ns, a.pod!, { src: b.pod!, intervalMs: 10 });
    await until(() => stream.replies >= 50, 5000, 'ping stream flowing');
    if (storeBlocked) a.ns.exec('iptables', '-I', ...block);
    const t0 = Date.now();
    const stop = await a.agent!.stop(signal);
    if (signal === 'SIGTERM') {
      assert.equal(stop.code, 0, a.agent!.stderr);
      assert.ok(stop.ms < 2000, `SIGTERM took ${stop.ms} ms`);
    }
    const agent = c.start(a, args());
    await agent.waitLog(/msg="data plane re-attached before the store"/, 10_000);
    const downMs = Date.now() - t0;
    if (storeBlocked) {
      // Forwarding is back while the store is still out of reach.
      const seen = stream.replies;
      await until(() => stream.replies >= seen + 100, 5000, 'replies while the store is unreachable');
      const r = httpGet(a.ns, 'http://127.0.0.1:8081/readyz');
      assert.equal(r.status, 503, r.body);
      assert.match(r.body, /reason: /);
      assert.doesNotMatch(agent.stderr, / msg=ready /, 'not ready while the store is blocked');
      a.ns.exec('iptables', '-D', ...block);
    }
    await agent.waitReady(30_000);
    const seen = stream.replies;
    await until(() => stream.replies >= seen + 50, 5000, 'ping stream after ready');
    const res = await stream.stop();
    assert.match(agent.stderr, /reattached=true/);
    assert.equal(readFileSync(a.subnetFile, 'utf8'), env, 'same subnet');
    assert.equal(tableOf(a).vtepMac, mac, 'same VtepMAC');
    assert.deepEqual(tableOf(a).entries, entriesBefore, 'same peers in the table');
    assert.deepEqual(
      etcd
        .getPrefix(`${kPrefix}/subnets/`)
        .map((k) => `${k.key} ${k.value}`)
        .sort(),
      leasesBefore,
      'no lease lost or changed',
    );
    const round: Round = {
      signal,
      storeBlocked,
      lost: res.lost,
      gapMs: res.lost * 10,
      longestGapMs: res.longestGapMs,
      lostTimeMs: Math.round(res.lost * res.meanIntervalMs),
      downMs,
    };
    rounds.push(round);
    return round;
  }

  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    test(`${signal} then start, ${kRounds + 1} times (the last with etcd unreachable): forwarding gap bounded, lease, subnet and VtepMAC kept`, async () => {
      const mine: Round[] = [];
      for (let i = 0; i <= kRounds; i++) mine.push(await restart(signal, i === kRounds));
      const gaps = mine.map((r) => r.gapMs);
      process.stdout.write(
        `# ${signal}: lost×10 ms ${gaps.join(', ')} (median ${median(gaps)}); longest reply gap ${mine.map((r) => r.longestGapMs).join(', ')} ms\n`,
      );
      for (const r of mine) {
        assert.ok(r.gapMs < 2000, `${signal} gap ${r.gapMs} ms`);
        assert.ok(r.longestGapMs < 2000, `${signal} longest reply gap ${r.longestGapMs} ms`);
      }
      const [a, b] = c.nodes as [Node, Node];
      assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 3 }), 3);
      assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 3 }), 3);
    });
  }
});
