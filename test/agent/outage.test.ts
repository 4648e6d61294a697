// Store outages (issue 6, item 4).
//
// etcd: three `weft run` vxlan agents on a real etcd inside the switch
// namespace. (1) etcd is killed (by PID) for 30 s: a 10 ms ping stream and a
// checked transfer keep crossing, every /readyz answers 503 naming the store,
// tables stay as they were, and all become ready again once etcd is back.
// (2) One agent is cut off from etcd (a TCP reset rule inside its namespace)
// while the test adds one lease and deletes another directly in etcd; the
// other agents follow at once, the cut-off one only after it reconnects, and
// then its table holds the added lease and no longer the deleted one.
//
// Embedded store: a database locked by another process (an exclusive
// transaction) makes a starting agent wait, not-ready with a reason naming
// the locked file, and no lease is lost; a corrupted database file fails the
// start with one error naming the file, exit code 1, nothing configured.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatCidr } from '../../src/net/cidr';
import { EMBEDDED_DB_FILE, EmbeddedStore } from '../../src/store/embedded-store';
import { EtcdInNs } from '../helpers/etcd-ns';
import { e2eUnavailable } from '../helpers/netns';
import { ping, transfer } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import { httpGet, tableOf, until, weftCli } from '../helpers/weft-agent';
import { Cluster, type Node } from '../helpers/weft-cluster';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';
const kPrefix = '/coreos.com/network';
const kOutageMs = Number(process.env.OUTAGE_MS ?? 30_000);

const subnetsOf = (n: Node): string[] => tableOf(n).entries.map((e) => e.subnet);
const readyz = (n: Node): { status: number; body: string } => httpGet(n.ns, 'http://127.0.0.1:8081/readyz');
const fakeLease = (ip: string, mac: string): string =>
  `{"PublicIP":"${ip}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${mac}"}}`;

describe('store outages: three weft vxlan agents on etcd', { skip }, () => {
  let c: Cluster;
  let etcd: EtcdInNs;
  const gone = '10.244.200.0/24';
  const added = '10.244.201.0/24';

  before(async () => {
    c = new Cluster('out', 3, kConfig);
    c.sw.ip('addr', 'add', '198.18.0.100/24', 'dev', 'br0');
    etcd = new EtcdInNs(c.sw, '198.18.0.100');
    await etcd.start();
    etcd.ctl('put', `${kPrefix}/config`, kConfig);
    // A peer lease (no traffic goes to it) that the test deletes during an outage.
    etcd.ctl('put', `${kPrefix}/subnets/${gone.replace('/', '-')}`, fakeLease('198.18.0.50', '0e:00:00:00:c8:00'));
    for (const n of c.nodes) c.start(n, ['--etcd-endpoints', etcd.endpoint, '--healthz-ip', '127.0.0.1', '--healthz-port', '8081']);
    for (const n of c.nodes) {
      await n.agent!.waitReady();
      c.learn(n);
    }
    for (const n of c.nodes) await until(() => subnetsOf(n).length === 3, 5000, `${n.ip} knows both peers and the fake lease`);
  });
  after(async () => {
    await c?.destroy();
    await etcd?.stop();
  });

  test(`etcd down for ${kOutageMs / 1000} s: forwarding unchanged, /readyz 503 naming the store, ready again after`, async () => {
    const [a, b, d] = c.nodes as [Node, Node, Node];
    const tables = c.nodes.map((n) => tableOf(n).entries);
    const streams = [new PingStream(a.ns, b.pod!, { src: a.pod! }), new PingStream(d.ns, a.pod!, { src: d.pod! })];
    await until(() => streams.every((s) => s.replies >= 20), 5000, 'ping streams flowing');
    const t0 = Date.now();
    await etcd.crash();
    for (const n of c.nodes) await until(() => readyz(n).status === 503, 15_000, `${n.ip} not ready during the outage`);
    for (const n of c.nodes) {
      const r = readyz(n);
      assert.match(r.body, /^flanneld is not ready yet\nreason: store unreachable: .*etcd.*198\.18\.0\.100:2379/, r.body);
      assert.equal(httpGet(n.ns, 'http://127.0.0.1:8081/healthz').status, 200);
    }
    // Halfway through: a checked transfer crosses, tables are as before.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + kOutageMs / 2 - Date.now())));
    const x = await transfer(a.ns, d.ns, d.pod!, 8 << 20, { fromIp: a.pod! });
    assert.equal(x.serverSha256, x.sha256);
    assert.equal(x.serverBytes, 8 << 20);
    assert.deepEqual(
      c.nodes.map((n) => tableOf(n).entries),
      tables,
      'tables kept during the outage',
    );
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + kOutageMs - Date.now())));
    for (const n of c.nodes) assert.equal(readyz(n).status, 503, 'still not ready at the end of the outage');
    const outageMs = Date.now() - t0;
    await etcd.start();
    const t1 = Date.now();
    for (const n of c.nodes) await until(() => readyz(n).status === 200, 30_000, `${n.ip} ready again`);
    const backMs = Date.now() - t1;
    const results = await Promise.all(streams.map((s) => s.stop()));
    process.stdout.write(
      `# etcd outage ${outageMs} ms: pings ${results.map((r) => `${r.received}/${r.sent} (longest gap ${r.longestGapMs} ms)`).join(', ')}; ` +
        `transfer ${(x.bytes / 1e6).toFixed(1)} MB checked at ${x.gbps.toFixed(2)} Gbit/s; all ready ${backMs} ms after etcd returned\n`,
    );
    for (const r of results) {
      assert.ok(r.sent > 1000, `sent ${r.sent}`);
      assert.ok(r.lost <= 2, `lost ${r.lost} of ${r.sent} pings during the outage`);
      assert.ok(r.longestGapMs < 500, `longest gap ${r.longestGapMs} ms`);
    }
    for (const n of c.nodes) {
      assert.ok(n.agent!.running);
      assert.match(n.agent!.stderr, /store reachable again/);
    }
    // Reconnection backed off: the probe's retries were not a tight loop.
    const retries = (a.agent!.stderr.match(/store error during/g) ?? []).length;
    assert.ok(retries < 40, `${retries} store error lines for a 30 s outage`);
    assert.equal(etcd.getPrefix(`${kPrefix}/subnets/`).length, 4, 'three node leases and the fake one survived');
    assert.deepEqual(
      c.nodes.map((n) => tableOf(n).entries),
      tables,
      'tables unchanged after the outage',
    );
  });

  test('a lease added and one deleted while an agent is cut off from etcd: seen once it reconnects, no event missed', async () => {
    const [a, b, d] = c.nodes as [Node, Node, Node];
    const rule = ['OUTPUT', '-p', 'tcp', '-d', '198.18.0.100', '--dport', '2379', '-j', 'REJECT', '--reject-with', 'tcp-reset'];
    a.ns.exec('iptables', '-I', ...rule);
    try {
      await until(() => readyz(a).status === 503, 15_000, 'cut-off agent not ready');
      assert.match(readyz(a).body, /reason: store unreachable: .*198\.18\.0\.100:2379/);
      const stream = new PingStream(b.ns, a.pod!, { src: b.pod! });
      etcd.ctl('put', `${kPrefix}/subnets/${added.replace('/', '-')}`, fakeLease('198.18.0.51', '0e:00:00:00:c9:00'));
      etcd.ctl('del', `${kPrefix}/subnets/${gone.replace('/', '-')}`);
      // More history after the two events, so a resumed watch has to replay from its revision.
      for (let i = 0; i < 5; i++) etcd.ctl('put', `${kPrefix}/other-${i}`, 'x');
      for (const n of [b, d]) {
        await until(() => subnetsOf(n).includes(added) && !subnetsOf(n).includes(gone), 5000, `${n.ip} follows the changes`);
      }
      await new Promise((r) => setTimeout(r, 3000));
      assert.ok(subnetsOf(a).includes(gone) && !subnetsOf(a).includes(added), 'the cut-off agent could not see the changes');
      assert.equal(readyz(a).status, 503);
      a.ns.exec('iptables', '-D', ...rule);
      const t0 = Date.now();
      await until(() => subnetsOf(a).includes(added) && !subnetsOf(a).includes(gone), 30_000, 'changes applied after reconnecting');
      const ms = Date.now() - t0;
      await until(() => readyz(a).status === 200, 30_000, 'ready again');
      const r = await stream.stop();
      process.stdout.write(
        `# cut-off agent applied the add and the delete ${ms} ms after reconnecting; pings to it during the cut-off ${r.received}/${r.sent}\n`,
      );
      assert.ok(r.lost <= 2, `lost ${r.lost} of ${r.sent}`);
      assert.deepEqual(subnetsOf(a).sort(), [added, b.subnet!, d.subnet!].sort());
      assert.match(a.agent!.stderr, new RegExp(`msg="peer removed" subnet=${gone.replace(/\./g, '\\.')}`));
      assert.match(a.agent!.stderr, new RegExp(`msg="peer added" subnet=${added.replace(/\./g, '\\.')}`));
    } finally {
      try {
        a.ns.exec('iptables', '-D', ...rule);
      } catch {
        // already removed
      }
    }
    assert.equal(ping(a.ns, d.pod!, { src: a.pod!, count: 3 }), 3);
  });
});

describe('store outages: embedded store locked or corrupted', { skip }, () => {
  let c: Cluster;
  let dataDir: string;
  let locker: ChildProcess | undefined;
  const args = (): string[] => c.embeddedArgs(dataDir, { health: true });

  before(async () => {
    c = new Cluster('emb', 3, kConfig);
    dataDir = join(c.dir, 'data');
    for (const n of c.nodes.slice(0, 2)) c.start(n, args());
    for (const n of c.nodes.slice(0, 2)) {
      await n.agent!.waitReady();
      c.learn(n);
    }
  });
  after(async () => {
    if (locker?.pid && locker.exitCode === null) process.kill(locker.pid, 'SIGKILL');
    await c?.destroy();
  });

  test('a database locked by another process: a starting agent waits, not ready with the reason, no lease lost', async () => {
    const [a, b, n3] = c.nodes as [Node, Node, Node];
    const dbPath = join(dataDir, EMBEDDED_DB_FILE);
    const leasesBefore = await listLeases(dataDir);
    // Another process holds an exclusive transaction until told to let go.
    locker = spawn(
      process.execPath,
      [
        '-e',
        `
      const db = new (require(${JSON.stringify(require.resolve('better-sqlite3'))}))(${JSON.stringify(dbPath)});
      db.exec('BEGIN EXCLUSIVE');
      process.stdout.write('locked\\n');
      process.stdin.on('data', () => { db.exec('COMMIT'); db.close(); process.exit(0); });
    `,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve, reject) => {
      locker!.stdout!.once('data', () => resolve());
      locker!.once('exit', (code) => reject(new Error(`locker exited ${code}`)));
    });
    const stream = new PingStream(a.ns, b.pod!, { src: a.pod! });
    c.start(n3, args());
    await until(() => /embedded store .*weft\.db is locked/.test(n3.agent!.stderr), 20_000, 'the lock is reported');
    await until(() => readyz(n3).status === 503, 10_000, 'readyz answers').catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(readyz(n3))}\n${n3.agent!.stderr}`);
    });
    const r = readyz(n3);
    assert.match(r.body, /reason: .*weft\.db is locked/, r.body);
    assert.ok(n3.agent!.running, 'it waits instead of exiting');
    for (const n of [a, b]) assert.equal(readyz(n).status, 200, 'running agents stay ready: their data plane needs no store');
    locker.stdin!.write('go\n');
    await new Promise((res) => locker!.once('exit', res));
    await n3.agent!.waitReady(30_000);
    c.learn(n3);
    const res = await stream.stop();
    assert.ok(res.lost <= 2, `pings lost during the lock: ${res.lost} of ${res.sent}`);
    const leasesAfter = await listLeases(dataDir);
    for (const l of leasesBefore) assert.ok(leasesAfter.includes(l), `lease ${l} kept`);
    assert.equal(leasesAfter.length, 3);
    await until(() => subnetsOf(a).includes(n3.subnet!), 5000, 'the new node reaches the others');
    assert.equal(ping(n3.ns, a.pod!, { src: n3.pod!, count: 3 }), 3);
  });

  test('a corrupted database file: exit 1 with one error naming the file, nothing configured', async () => {
    const n = c.nodes[2]!;
    await n.agent!.stop('SIGTERM');
    weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
    const bad = join(c.dir, 'corrupt');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, EMBEDDED_DB_FILE), Buffer.concat([Buffer.from('this is not a database '), Buffer.alloc(8192, 0xa5)]));
    const r = weftCli(n.ns, [
      'run',
      '--iface',
      'ul',
      '--subnet-file',
      n.subnetFile,
      '--queues',
      '1',
      '--data-dir',
      bad,
      '--net-config-path',
      c.configFile,
    ]);
    assert.equal(r.code, 1, r.stderr);
    const errs = r.stderr.split('\n').filter((l) => / level=error /.test(l));
    assert.equal(errs.length, 1, r.stderr);
    assert.match(errs[0]!, new RegExp(`embedded store ${join(bad, EMBEDDED_DB_FILE).replace(/[.]/g, '\\.')} is corrupted`));
    const links = JSON.parse(n.ns.ip('-j', 'link', 'show')) as { ifname: string }[];
    assert.deepEqual(links.map((l) => l.ifname).sort(), ['lo', 'ul'], 'no device');
    assert.doesNotMatch(n.ns.ip('route', 'show'), /10\.244\./);
    assert.ok(!existsSync(n.subnetFile), 'no subnet.env');
    assert.ok(!existsSync(`${n.subnetFile}.weft.json`), 'no state file');
    const ino = n.ns.exec('stat', '-L', '-c', '%i', '/proc/self/ns/net').trim();
    assert.deepEqual(
      (existsSync('/dev/shm/weft') ? readdirSync('/dev/shm/weft') : []).filter((f) => f.startsWith(`${ino}-`)),
      [],
      'no table file',
    );
    assert.doesNotMatch(n.ns.exec('iptables', '-S'), /FLANNEL/);
  });
});

async function listLeases(dataDir: string): Promise<string[]> {
  const s = new EmbeddedStore({ dataDir });
  try {
    return (await s.list()).leases.map((l) => `${formatCidr(l.subnet)} ${l.attrs.publicIp}`);
  } finally {
    await s.close();
  }
}
