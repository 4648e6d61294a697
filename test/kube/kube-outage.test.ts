// Kubernetes mode, the API server going away and history running out:
// two `weft run --kube-subnet-mgr` vxlan nodes against the test API server.
//
// (1) The API server stops for 30 s (every connection cut, nothing listening):
//     a ping stream between the weft nodes loses nothing, /readyz answers 503
//     naming the API server all along and 200 after, and the watch resumes
//     from the last resourceVersion it saw (the server records the requests:
//     no LIST, the first WATCH carries that version), so a node added and one
//     deleted during the outage reach the tables once it is back.
// (2) 410 Gone through a running agent: the server ends the watches, changes
//     nodes and compacts its history, so the agents' next WATCH (from the old
//     version) is refused — once as an ERROR event in a 200 stream (what
//     kube-apiserver sends), once as HTTP 410 — and they re-list, watch from
//     the list's version and apply the changes.
// (3) A node deletion leaves both tables: time measured from the agents' logs.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { KubeApiServer, type Recorded } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { httpGet, until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const kP = 'flannel.alpha.coreos.com/';
const kOutageMs = 30_000;
const kNsPrefix = `k2-${process.pid}`;
const names = ['node-1', 'node-2'];
const tokenOf = (name: string): string => `token-${name}`;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function subnets(n: Node): string[] {
  const r = weftCli(n.ns, ['table', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as DataPlaneStats).entries.map((e) => `${e.subnet} ${e.publicIp}`).sort();
}
const readyz = (n: Node): { status: number; body: string } => httpGet(n.ns, 'http://127.0.0.1:10256/readyz');

/** A node as flanneld leaves it annotated (vxlan), for peers no traffic goes to. */
function fakeNode(api: KubeApiServer, name: string, cidr: string, ip: string, mac: string): void {
  api.addNode(name, {
    podCIDR: cidr,
    annotations: {
      [`${kP}backend-data`]: `{"VNI":1,"VtepMAC":"${mac}"}`,
      [`${kP}backend-type`]: 'vxlan',
      [`${kP}kube-subnet-manager`]: 'true',
      [`${kP}public-ip`]: ip,
    },
  });
}

const isWatch = (r: Recorded): boolean => r.path.startsWith('/api/v1/nodes?') && /[?&]watch=true/.test(r.path);
const isList = (r: Recorded): boolean =>
  r.method === 'GET' && (r.path === '/api/v1/nodes' || (r.path.startsWith('/api/v1/nodes?') && !isWatch(r)));
const rvOf = (r: Recorded): string | null => new URL(r.path, 'https://x').searchParams.get('resourceVersion');

describe('Kubernetes mode: API server outage, resumed watch, 410 Gone', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  const readyMs: number[] = [];
  // The peers every table holds before the test changes anything.
  let peersOf: (n: Node) => string[];

  before(async () => {
    api = new KubeApiServer();
    await api.start();
    c = new Cluster('kout', 2, kConfig, { prefix: kNsPrefix });
    api.addNode('node-1', { podCIDR: '10.244.1.0/24' });
    api.addNode('node-2', { podCIDR: '10.244.2.0/24' });
    fakeNode(api, 'node-old', '10.244.60.0/24', '198.18.0.60', '0e:00:00:00:3c:00');
    fakeNode(api, 'node-gone', '10.244.61.0/24', '198.18.0.61', '0e:00:00:00:3d:00');
    for (const n of c.nodes) api.proxyIn(n.ns);
    for (const n of c.nodes) await api.proxyReady(n.ns);
    const t0 = Date.now();
    c.nodes.forEach((n, i) => {
      api.tokens.set(tokenOf(names[i]!), '*');
      c.start(
        n,
        [
          '--kube-subnet-mgr',
          '--kubeconfig-file',
          api.kubeconfig(tokenOf(names[i]!)),
          '--net-config-path',
          c.configFile,
          '--healthz-ip',
          '127.0.0.1',
          '--healthz-port',
          '10256',
        ],
        { NODE_NAME: names[i]! },
      );
    });
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      readyMs.push(Date.now() - t0);
      c.learn(n);
    }
    peersOf = (n) => {
      const peer = c.nodes.find((p) => p !== n)!;
      return [`${peer.subnet} ${peer.ip}`, '10.244.60.0/24 198.18.0.60', '10.244.61.0/24 198.18.0.61'].sort();
    };
    for (const n of c.nodes) await until(() => subnets(n).join() === peersOf(n).join(), 10_000, `${n.ip} knows its peers`);
    process.stderr.write(`# kube mode: weft nodes ready ${readyMs.join(' ms, ')} ms after start\n`);
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  test(`API server stopped ${kOutageMs / 1000} s: no ping lost, /readyz 503 naming it, the watch resumes from its last resourceVersion`, async () => {
    const [a, b] = c.nodes as [Node, Node];
    const stream = new PingStream(a.ns, b.pod!, { src: a.pod!, intervalMs: 20 });
    await until(() => stream.replies >= 20, 5000, 'ping stream flowing');
    // Both watches open; a bookmark gives them the version to resume from.
    await until(() => api.watchCount === 2, 5000, 'both agents watching');
    api.bookmark();
    const lastRv = api.resourceVersion;
    await sleep(300);
    const t0 = Date.now();
    await api.stop();
    const mark = api.requests.length;
    for (const n of c.nodes) await until(() => readyz(n).status !== 200, 15_000, `${n.ip} not ready during the outage`);
    const notReadyMs = Date.now() - t0;
    // During the outage: one node joins, one leaves (events the resumed watch must replay).
    fakeNode(api, 'node-3', '10.244.3.0/24', '198.18.0.53', '0e:00:00:00:03:00');
    api.deleteNode('node-old');
    let samples = 0;
    while (Date.now() < t0 + kOutageMs) {
      for (const n of c.nodes) {
        const r = readyz(n);
        assert.equal(r.status, 503, `${n.ip} at ${Date.now() - t0} ms: ${r.body}`);
        assert.match(
          r.body,
          /^flanneld is not ready yet\nreason: store unreachable: Kubernetes API https:\/\/127\.0\.0\.1:6443 is unreachable/,
          r.body,
        );
        assert.equal(httpGet(n.ns, 'http://127.0.0.1:10256/healthz').status, 200, 'healthy all along');
      }
      samples++;
      await sleep(2000);
    }
    for (const n of c.nodes) assert.deepEqual(subnets(n), peersOf(n), 'tables kept during the outage');
    assert.equal(api.requests.length, mark, 'nothing reached the stopped server');
    const outageMs = Date.now() - t0;
    await api.start();
    const t1 = Date.now();
    const want = (n: Node): string[] =>
      peersOf(n)
        .filter((s) => !s.startsWith('10.244.60.'))
        .concat('10.244.3.0/24 198.18.0.53')
        .sort();
    for (const n of c.nodes) await until(() => subnets(n).join() === want(n).join(), 30_000, `${n.ip} applied the outage's changes`);
    const appliedMs = Date.now() - t1;
    for (const n of c.nodes) await until(() => readyz(n).status === 200, 30_000, `${n.ip} ready again`);
    const backMs = Date.now() - t1;
    const r = await stream.stop();
    process.stderr.write(
      `# API outage ${outageMs} ms: not ready after ${notReadyMs} ms, pings ${r.received}/${r.sent} (longest gap ${r.longestGapMs} ms); ` +
        `changes applied ${appliedMs} ms and both ready ${backMs} ms after the API returned\n`,
    );
    assert.ok(r.sent > 1000, `sent ${r.sent}`);
    assert.equal(r.lost, 0, `lost ${r.lost} of ${r.sent} pings during the outage`);
    assert.ok(samples >= 5, `${samples} readyz samples`);
    // Resumed, not re-listed: each agent's first WATCH after the outage is from lastRv, and it never LISTed.
    for (const name of names) {
      const mine = api.requests.slice(mark).filter((q) => q.token === tokenOf(name));
      assert.equal(mine.filter(isList).length, 0, `${name} re-listed: ${mine.map((q) => q.path).join(', ')}`);
      const watches = mine.filter(isWatch);
      assert.ok(watches.length >= 1, `${name} watched again`);
      assert.equal(rvOf(watches[0]!), lastRv, `${name}'s resumed watch: ${watches[0]!.path}`);
      assert.match(c.nodes[names.indexOf(name)]!.agent!.stderr, /msg="store reachable again"/);
      assert.match(c.nodes[names.indexOf(name)]!.agent!.stderr, /msg="store watch opened"/);
    }
    const probes = (a.agent!.stderr.match(/store error during/g) ?? []).length;
    assert.ok(probes < 40, `${probes} store error lines for a 30 s outage: backoff`);
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2);
  });

  for (const how of ['event', 'status'] as const) {
    test(`410 Gone (${how === 'event' ? 'an ERROR event, as kube-apiserver sends it' : 'the HTTP status'}): the agents re-list, watch from the list's version and apply the changes`, async () => {
      await until(() => api.watchCount === 2, 10_000, 'both agents watching');
      api.bookmark();
      const oldRv = api.resourceVersion;
      await sleep(300);
      const before = c.nodes.map((n) => subnets(n));
      api.expiredWatchAs = how;
      const mark = api.requests.length;
      // In one tick, before any agent can watch again: the streams end, nodes
      // change, and the history is compacted past the agents' version.
      assert.equal(api.endWatches(), 2);
      let gone: string;
      let added: string;
      if (how === 'event') {
        api.deleteNode('node-gone');
        fakeNode(api, 'node-4', '10.244.4.0/24', '198.18.0.54', '0e:00:00:00:04:00');
        gone = '10.244.61.0/24 198.18.0.61';
        added = '10.244.4.0/24 198.18.0.54';
      } else {
        api.updateNode('node-4', (n) => (n.metadata.annotations[`${kP}public-ip`] = '198.18.0.64'));
        gone = '10.244.4.0/24 198.18.0.54';
        added = '10.244.4.0/24 198.18.0.64';
      }
      api.compact();
      const want = before.map((s) =>
        s
          .filter((x) => x !== gone)
          .concat(added)
          .sort(),
      );
      const t0 = Date.now();
      for (const [i, n] of c.nodes.entries())
        await until(() => subnets(n).join() === want[i]!.join(), 15_000, `${n.ip} re-listed and applied the change`);
      const ms = Date.now() - t0;
      await until(
        () => names.every((name) => api.requests.slice(mark).filter((q) => q.token === tokenOf(name) && isWatch(q)).length >= 2),
        10_000,
        'watching again after the re-list',
      );
      for (const name of names) {
        const seq = api.requests.slice(mark).filter((q) => q.token === tokenOf(name) && (isWatch(q) || isList(q)));
        assert.ok(isWatch(seq[0]!) && rvOf(seq[0]!) === oldRv, `${name} first watched from ${oldRv}: ${seq[0]?.path}`);
        assert.ok(isList(seq[1]!), `${name} then re-listed: ${seq[1]?.path}`);
        assert.ok(isWatch(seq[2]!), `${name} then watched: ${seq[2]?.path}`);
        assert.equal(rvOf(seq[2]!), seq[1]!.listRv, `${name} watches from the list's version`);
      }
      for (const n of c.nodes) assert.equal(readyz(n).status, 200, 'a 410 is no outage');
      process.stderr.write(`# 410 Gone as ${how}: re-listed and applied in ${ms} ms\n`);
    });
  }

  test('a watch ERROR other than 410 (500 InternalError): retried from the same version with backoff, no re-list', async () => {
    await until(() => api.watchCount === 2, 10_000, 'both agents watching');
    api.bookmark();
    const rv = api.resourceVersion;
    await sleep(300);
    const mark = api.requests.length;
    for (const name of names) api.failWatches(tokenOf(name), 3);
    api.endWatches();
    fakeNode(api, 'node-5', '10.244.5.0/24', '198.18.0.55', '0e:00:00:00:05:00');
    for (const n of c.nodes) await until(() => subnets(n).some((s) => s.startsWith('10.244.5.0/24')), 20_000, `${n.ip} applied node-5`);
    for (const name of names) {
      const seq = api.requests.slice(mark).filter((q) => q.token === tokenOf(name) && (isWatch(q) || isList(q)));
      assert.equal(seq.filter(isList).length, 0, `${name} did not re-list`);
      const tries = seq.slice(0, 4);
      assert.ok(
        tries.length === 4 && tries.every((q) => isWatch(q) && rvOf(q) === rv),
        `${name} watched again from ${rv}: ${tries.map((q) => q.path).join(', ')}`,
      );
      const gaps = tries.slice(1).map((q, i) => q.at - tries[i]!.at);
      process.stderr.write(`# ${name}: watch retries after injected 500s at +${gaps.join(' ms, +')} ms\n`);
      assert.ok(
        gaps[0]! >= 900 && gaps[1]! >= 1800 && gaps[2]! >= 3600,
        `backoff 1 s, 2 s, 4 s between failed watches: ${gaps.join(', ')} ms`,
      );
      assert.match(c.nodes[names.indexOf(name)]!.agent!.stderr, /injected watch failure/);
    }
  });

  test("a deleted node leaves both tables (time from the agents' logs)", async () => {
    const t0 = Date.now();
    api.deleteNode('node-3');
    const at: number[] = [];
    for (const n of c.nodes) {
      await n.agent!.waitLog(/msg="peer removed" subnet=10\.244\.3\.0\/24/, 5000);
      const line = n.agent!.stderr.split('\n').find((l) => /msg="peer removed" subnet=10\.244\.3\.0\/24/.test(l))!;
      at.push(Date.parse(/^time=(\S+)/.exec(line)![1]!) - t0);
      assert.ok(!subnets(n).some((s) => s.startsWith('10.244.3.')), 'gone from the table');
    }
    process.stderr.write(`# node deletion: peer removed from the tables ${at.join(' ms, ')} ms after the DELETE\n`);
    for (const ms of at) assert.ok(ms < 2000, `${ms} ms`);
    process.stderr.write(
      `# requests weft made:\n${api
        .requestSummary()
        .map((l) => `#   ${l}`)
        .join('\n')}\n`,
    );
  });
});
