// A long-lived lease watch on a healthy etcd (issue 12, item 1): the etcd
// client used to give every call — the watch stream too — a 5 s deadline,
// so the watch failed and re-opened every ~5 s and /readyz answered 503 a
// fifth of the time. For 60 s against a healthy etcd (inside the switch
// namespace): no store warning logged, /readyz 200 at every 100 ms poll, the
// watch opened exactly once; then a lease added by a third agent reaches the
// first agent's table within 1 s. etcd runs in a namespace of its own on the switch.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { EtcdCluster } from '../helpers/etcd-cluster';
import { e2eUnavailable } from '../helpers/netns';
import { httpGet, weftCli } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';
const kHealthyMs = 60_000;
const kPollMs = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const count = (text: string, re: RegExp): number => text.split('\n').filter((l) => re.test(l)).length;

describe('the lease watch on a healthy etcd stays open', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdCluster;
  const args = (): string[] => [...etcd.agentArgs(), '--healthz-ip', '127.0.0.1', '--healthz-port', '8081'];

  before(async () => {
    c = new Cluster('ewt', 3, kConfig, { prefix: 'e2' });
    etcd = new EtcdCluster(c.sw, { prefix: 'e2', label: 'ewtm' });
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    for (const n of c.nodes.slice(0, 2)) c.start(n, args());
    for (const n of c.nodes.slice(0, 2)) await n.agent!.waitReady();
  });
  after(async () => {
    await c?.destroy();
    await etcd?.destroy();
  });

  test(`${kHealthyMs / 1000} s: no store warning, /readyz 200 at every poll, one watch; then a new peer within 1 s`, async () => {
    const [a, , late] = c.nodes as [Node, Node, Node];
    let polls = 0;
    const bad: string[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < kHealthyMs) {
      const tick = Date.now();
      const r = httpGet(a.ns, 'http://127.0.0.1:8081/readyz');
      polls++;
      if (r.status !== 200) bad.push(`${tick - t0} ms: ${r.status} ${r.body}`);
      await sleep(Math.max(0, kPollMs - (Date.now() - tick)));
    }
    const log = a.agent!.stderr;
    const warnings = log.split('\n').filter((l) => / level=warn /.test(l) && /store/.test(l));
    const opened = count(log, / msg="store watch opened" /);

    // A third agent joins: its lease must be in A's table within 1 s of being written.
    const tJoin = Date.now();
    c.start(late, args());
    await late.agent!.waitLog(/ msg="acquired lease" /, 30_000);
    const tAcquired = Date.now();
    await a.agent!.waitLog(new RegExp(` msg="peer added" .*publicIp=${late.ip.replace(/\./g, '\\.')}(?: |$)`), 5000);
    const applyMs = Date.now() - tAcquired;
    await late.agent!.waitReady(30_000);
    c.learn(late);
    const table = JSON.parse(weftCli(a.ns, ['table', '--json']).stdout) as DataPlaneStats;
    process.stdout.write(
      `# etcd watch: ${polls} /readyz polls in ${((tJoin - t0) / 1000).toFixed(1)} s, ${bad.length} not 200; ` +
        `${warnings.length} store warnings; watch opened ${opened}×; new peer in A's table ${applyMs} ms after its lease was acquired ` +
        `(log polled every 50 ms)\n`,
    );

    assert.deepEqual(warnings, [], 'no store warning on a healthy etcd');
    assert.deepEqual(bad, [], '/readyz 200 at every poll');
    assert.ok(polls >= (kHealthyMs / kPollMs) * 0.5, `only ${polls} polls`);
    assert.equal(opened, 1, 'the watch opened exactly once');
    assert.ok(applyMs < 1000, `the new peer took ${applyMs} ms to reach the table`);
    assert.ok(
      table.entries.some((e) => e.subnet === late.subnet),
      `${late.subnet} in ${table.entries.map((e) => e.subnet).join(' ')}`,
    );
  });
});
