// Load and soak (issue 6, item 7): a `weft run` vxlan agent whose embedded
// store holds 1,000+ leases (fake peers on 198.18.0.0/24 addresses nobody
// answers; no traffic goes to them), one real peer agent with a 10 ms ping
// stream and a checked transfer, and lease churn — adds and deletes at
// ~100/s for 25 s, written straight into the store. Asserts: the table
// converges to exactly the store's set, the agent's RSS stays flat after a
// warm-up, the real peer's traffic kept flowing, and once the deletion of a
// lease is applied no packet goes to its PublicIP any more (a "sink"
// namespace holding that address counts VXLAN datagrams with iptables).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { leaseAttrsFor } from '../../src/store/lease-json';
import { e2eUnavailable } from '../helpers/netns';
import { transfer } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import { tableSubnets as subnetsOf, untilTableEqualsStore } from '../helpers/table-equals-store';
import { tableOf, until } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
// A /8 of /24s: room for thousands of leases.
const kConfig = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const kInitial = 1000;
const kRate = 100; // store operations per second
const kWarmupMs = 5000;
const kChurnMs = 25_000;
const kSinkSubnet = '10.250.0.0/24';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const macOf = (i: number): string =>
  `0e:5a:${[(i >> 16) & 255, (i >> 8) & 255, i & 255, 0].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
/** The i-th fake lease: 10.100.0.0/24 onwards, PublicIP among 198.18.0.200..249. */
const fakeSubnet = (i: number): string => `10.${100 + (i >> 8)}.${i & 255}.0/24`;

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

/** VXLAN datagrams that reached the sink (its iptables counter rule). */
function sinkCount(sink: Node): number {
  const out = sink.ns.exec('iptables', '-L', 'INPUT', '-v', '-x', '-n');
  const line = out.split('\n').find((l) => /udp dpt:8472/.test(l));
  return Number(line!.trim().split(/\s+/)[0]);
}

describe(`soak: ${kInitial}+ leases and churn at ${kRate}/s while traffic flows`, { skip }, () => {
  let c: Cluster;
  let store: EmbeddedStore;
  let dataDir: string;
  let next = 0;
  const live = new Set<string>();

  async function add(): Promise<void> {
    const i = next++;
    await store.put(cidr(fakeSubnet(i)), leaseAttrsFor('vxlan', `198.18.0.${200 + (i % 50)}`, { vni: 1, vtepMac: macOf(i) }), null);
    live.add(fakeSubnet(i));
  }
  async function removeOne(): Promise<void> {
    const victim = live.values().next().value as string | undefined;
    if (!victim) return;
    live.delete(victim);
    await store.delete(cidr(victim));
  }

  before(async () => {
    c = new Cluster('soak', 3, kConfig, { prefix: 'e2' });
    dataDir = join(c.dir, 'data');
    store = new EmbeddedStore({ dataDir });
    await store.putConfig(kConfig);
    for (let i = 0; i < kInitial; i++) await add();
    const [a, b, sink] = c.nodes as [Node, Node, Node];
    // The sink: a node whose lease the test deletes mid-churn; it runs no agent, it only counts.
    sink.ns.exec('iptables', '-A', 'INPUT', '-p', 'udp', '--dport', '8472');
    await store.put(cidr(kSinkSubnet), leaseAttrsFor('vxlan', sink.ip, { vni: 1, vtepMac: '0e:5a:ff:00:00:01' }), null);
    for (const n of [a, b]) c.start(n, ['--data-dir', dataDir, '--net-config-path', c.configFile]);
    for (const n of [a, b]) {
      await n.agent!.waitReady(60_000);
      c.learn(n);
    }
  });
  after(async () => {
    await store?.close();
    await c?.destroy();
  });

  test('table consistent, RSS flat, real traffic flowing, nothing sent to a deleted peer', async () => {
    const [a, b, sink] = c.nodes as [Node, Node, Node];
    const pid = a.agent!.child.pid!;
    await until(() => tableOf(a).entries.length === kInitial + 2, 20_000, `the agent's table holds ${kInitial + 2} entries`);
    const stream = new PingStream(a.ns, b.pod!, { src: a.pod! });
    const sinkStream = new PingStream(a.ns, '10.250.0.5', { src: a.pod!, intervalMs: 20 });
    await until(() => stream.replies >= 20 && sinkCount(sink) >= 20, 5000, 'traffic to the peer and to the sink');

    const rss: { t: number; kb: number }[] = [{ t: 0, kb: rssKb(pid) }];
    const t0 = Date.now();
    let ops = 0;
    let rssWarm = 0;
    let sinkDeleted = false;
    let sinkResult: { atDeleteApplied: number; twoSecondsLater: number; applyMs: number } | undefined;
    let transferDone: Promise<Awaited<ReturnType<typeof transfer>>> | undefined;
    let lastSample = t0;
    while (Date.now() - t0 < kWarmupMs + kChurnMs) {
      // Keep ~kRate ops/s: alternate adds and deletes so the set stays near its size.
      const due = Math.floor(((Date.now() - t0) / 1000) * kRate);
      while (ops < due) {
        if (ops % 2 === 0) await add();
        else await removeOne();
        ops++;
      }
      const elapsed = Date.now() - t0;
      if (!rssWarm && elapsed >= kWarmupMs) {
        rssWarm = rssKb(pid);
        transferDone = transfer(a.ns, b.ns, b.pod!, 16 << 20, { fromIp: a.pod! });
      }
      if (Date.now() - lastSample >= 1000) {
        rss.push({ t: elapsed, kb: rssKb(pid) });
        lastSample = Date.now();
      }
      if (!sinkDeleted && elapsed >= kWarmupMs + kChurnMs / 2) {
        sinkDeleted = true;
        const td = Date.now();
        await store.delete(cidr(kSinkSubnet));
        void (async () => {
          await until(() => !subnetsOf(a).has(kSinkSubnet), 10_000, 'sink lease removed from the table');
          const atDeleteApplied = sinkCount(sink);
          const applyMs = Date.now() - td;
          await new Promise((r) => setTimeout(r, 2000));
          sinkResult = { atDeleteApplied, twoSecondsLater: sinkCount(sink), applyMs };
        })();
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const tEnd = Date.now();
    const churnSeconds = (tEnd - t0) / 1000;
    const rssEnd = rssKb(pid);
    const x = await transferDone!;
    await until(() => sinkResult !== undefined, 15_000, 'sink check done');
    const sinkPings = await sinkStream.stop();

    // Converged: the table is exactly the store's leases other than our own.
    const want = new Set((await store.list()).leases.map((l) => formatCidr(l.subnet)).filter((s) => s !== a.subnet));
    await untilTableEqualsStore(a, want);
    const convergeMs = Date.now() - tEnd;
    const pings = await stream.stop();

    const growth = (rssEnd - rssWarm) / rssWarm;
    process.stdout.write(
      `# soak: ${kInitial} leases + churn ${ops} ops in ${churnSeconds.toFixed(1)} s (${(ops / churnSeconds).toFixed(0)}/s), table ${want.size} entries, ` +
        `equal to the store ${convergeMs} ms after the last op (checked after the sink check)\n# RSS: start ${rss[0]!.kb} kB, after warm-up ${rssWarm} kB, end ${rssEnd} kB (${(growth * 100).toFixed(1)} %), ` +
        `max ${Math.max(...rss.map((r) => r.kb))} kB\n# real peer: pings ${pings.received}/${pings.sent} (longest gap ${pings.longestGapMs} ms), ` +
        `transfer ${(x.bytes / 1e6).toFixed(1)} MB checked at ${x.gbps.toFixed(2)} Gbit/s\n# sink: deletion applied in ${sinkResult!.applyMs} ms; ` +
        `datagrams at the sink when applied ${sinkResult!.atDeleteApplied}, 2 s later ${sinkResult!.twoSecondsLater} (${sinkPings.sent} pings sent toward it)\n`,
    );

    assert.ok(ops >= ((kRate * (kWarmupMs + kChurnMs)) / 1000) * 0.9, `only ${ops} ops`);
    assert.ok(want.size >= kInitial, `${want.size} leases`);
    assert.ok(growth < 0.3, `RSS grew ${(growth * 100).toFixed(1)} % (${rssWarm} → ${rssEnd} kB)`);
    assert.equal(x.serverSha256, x.sha256);
    assert.equal(x.serverBytes, 16 << 20);
    assert.ok(pings.sent > 1000, `${pings.sent} pings`);
    assert.ok(pings.lost / pings.sent < 0.01, `lost ${pings.lost} of ${pings.sent} pings to the real peer`);
    assert.ok(sinkResult!.atDeleteApplied > 0, 'traffic reached the sink while its lease existed');
    assert.equal(sinkResult!.twoSecondsLater, sinkResult!.atDeleteApplied, 'no datagram reached the sink after its deletion was applied');
    assert.ok(tableOf(a).drops.noRoute! > 0, 'the pings toward the deleted subnet were dropped as noRoute');
    assert.ok(a.agent!.running && b.agent!.running);
  });
});
