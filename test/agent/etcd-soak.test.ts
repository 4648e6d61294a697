// Soak on etcd (issue 12, item 4), as soak.test.ts does for the embedded
// store: a `weft run` vxlan agent on a real etcd (inside the switch
// namespace) holding 1,000 fake leases (PublicIPs nobody answers; no traffic
// goes to them), then adds and deletes at 100/s for 30 s written by a child
// process beside etcd, in its namespace (etcd-churn.ts). Asserts: the table equals the store's
// set after the last change, and the agent's RSS stays flat after a warm-up.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { EtcdCluster } from '../helpers/etcd-cluster';
import type { EtcdInNs } from '../helpers/etcd-ns';
import { e2eUnavailable } from '../helpers/netns';
import { tableSubnets, untilTableEqualsStore } from '../helpers/table-equals-store';
import { until } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.0.0.0/8","SubnetLen":24,"Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';
const kInitial = 1000;
const kRate = 100;
const kChurnMs = 30_000;
const kWarmupMs = 5000;

const rssKb = (pid: number): number => Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

describe(`etcd soak: ${kInitial} leases and churn at ${kRate}/s for ${kChurnMs / 1000} s`, { skip }, () => {
  let c: Cluster;
  let cluster: EtcdCluster;
  let etcd: EtcdInNs;

  before(async () => {
    c = new Cluster('esk', 1, kConfig, { prefix: 'e2' });
    cluster = new EtcdCluster(c.sw, { prefix: 'e2', label: 'eskm' });
    await cluster.start();
    etcd = cluster.members[0]!;
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
  });
  after(async () => {
    await c?.destroy();
    await cluster?.destroy();
  });

  test('table equals the store after the last change; RSS flat', async () => {
    const churn = etcd.ns.spawn(process.execPath, [
      join(__dirname, 'etcd-churn.js'),
      etcd.endpoint,
      String(kInitial),
      String(kRate),
      String(kChurnMs),
    ]);
    let stderr = '';
    churn.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: churn.stdout! });
    const next = (): Promise<string> =>
      new Promise((resolve, reject) => {
        lines.once('line', resolve);
        churn.once('exit', (code) => reject(new Error(`etcd-churn exited ${code}: ${stderr}`)));
      });
    assert.equal(await next(), 'ready');
    const [a] = c.nodes as [Node];
    c.start(a, cluster.agentArgs());
    await a.agent!.waitReady(60_000);
    c.learn(a);
    await until(() => tableSubnets(a).size === kInitial, 30_000, `the table holds ${kInitial} entries`);
    const pid = a.agent!.child.pid!;
    const rss: number[] = [rssKb(pid)];
    const done = next();
    churn.stdin!.write('go\n');
    const t0 = Date.now();
    let rssWarm = 0;
    let finished = false;
    void done.then(
      () => (finished = true),
      () => (finished = true),
    );
    while (!finished) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!finished) rss.push(rssKb(pid));
      if (!rssWarm && Date.now() - t0 >= kWarmupMs) rssWarm = rssKb(pid);
    }
    const result = JSON.parse(await done) as { ops: number; ms: number; live: string[] };
    const tEnd = Date.now();
    const rssEnd = rssKb(pid);
    const want = new Set(result.live);
    await untilTableEqualsStore(a, want);
    const convergeMs = Date.now() - tEnd;
    const stored = etcd.getPrefix(`${kPrefix}/subnets/`).length;
    const growth = (rssEnd - rssWarm) / rssWarm;
    process.stdout.write(
      `# etcd soak: ${kInitial} leases + ${result.ops} ops in ${(result.ms / 1000).toFixed(1)} s (${(result.ops / (result.ms / 1000)).toFixed(0)}/s), ` +
        `table ${want.size} entries = the store (${stored} keys incl. ours) ${convergeMs} ms after the last change (table read via weft table)\n` +
        `# RSS: start ${rss[0]} kB, after warm-up ${rssWarm} kB, end ${rssEnd} kB (${(growth * 100).toFixed(1)} %), max ${Math.max(...rss)} kB; ` +
        `store warnings ${a.agent!.stderr.split('\n').filter((l) => / level=warn .*store/.test(l)).length}\n`,
    );

    assert.ok(result.ops >= ((kRate * kChurnMs) / 1000) * 0.9, `only ${result.ops} ops`);
    assert.equal(stored, want.size + 1, 'the store holds the fake leases and ours');
    assert.ok(growth < 0.3, `RSS grew ${(growth * 100).toFixed(1)} % (${rssWarm} → ${rssEnd} kB)`);
    assert.ok(a.agent!.running);
  });
});
