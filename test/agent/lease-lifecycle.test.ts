// Lease lifecycle with real `weft run` processes on an embedded store (the
// test opens the same data dir to read and write leases as an operator
// would): renewal with a short TTL, a deleted or expired peer lease leaving
// every table (and traffic to it stopping), the agent's own lease
// re-acquired after deletion, a restart keeping subnet and VtepMAC (also
// after /dev/shm is cleaned), and two agents racing for the last subnet.

import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { leaseAttrsFor, vtepMacOf } from '../../src/store/lease-json';
import { e2eUnavailable } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { tableOf, until, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const cidr = (s: string) => parseCidr(s, { strict: true })!;

const hasEntry = (n: Node, subnet: string): boolean => tableOf(n).entries.some((e) => e.subnet === subnet);

describe('lease lifecycle (embedded store, 4 s TTL)', { skip }, () => {
  let c: Cluster;
  let store: EmbeddedStore;
  let dataDir: string;
  let kernel: Node;
  const kernelSubnet = '10.244.99.0/24';
  const kernelMac = '0e:2a:0a:f4:63:00';
  const args = (): string[] => ['--data-dir', dataDir, '--net-config-path', c.configFile, '--subnet-lease-ttl', '4'];

  before(async () => {
    c = new Cluster('lc', 3, kConfig);
    dataDir = join(c.dir, 'data');
    kernel = c.nodes[2]!;
    store = new EmbeddedStore({ dataDir });
    await store.putConfig(kConfig);
    // A kernel-VXLAN node whose lease the test manages by hand.
    await store.put(cidr(kernelSubnet), leaseAttrsFor('vxlan', kernel.ip, { vni: 1, vtepMac: kernelMac }), 3600);
    kernelVxlanNode(kernel.ns, { publicIp: kernel.ip, subnet: kernelSubnet, mac: kernelMac });
    kernel.pod = '10.244.99.5';
    kernel.ns.ip('addr', 'add', '10.244.99.5/32', 'dev', 'lo');
    for (const n of c.nodes.slice(0, 2)) c.start(n, args());
    for (const n of c.nodes.slice(0, 2)) {
      await n.agent!.waitReady();
      c.learn(n);
      kernelVxlanPeer(kernel.ns, { subnet: n.subnet!, publicIp: n.ip, mac: tableOf(n).vtepMac! });
    }
  });
  after(async () => {
    await store?.close();
    await c?.destroy();
  });

  test('renewal: a 4 s lease is renewed before it expires and peers never lose it', async () => {
    const [a, b] = c.nodes as [Node, Node];
    const first = (await store.list()).leases.find((l) => formatCidr(l.subnet) === a.subnet)!;
    await new Promise((r) => setTimeout(r, 6000)); // 1.5 TTLs
    const later = (await store.list()).leases.find((l) => formatCidr(l.subnet) === a.subnet);
    assert.ok(later, 'the lease outlived its TTL');
    assert.ok(later.expiresAt! > first.expiresAt! + 2000, `expiry moved from ${first.expiresAt} to ${later.expiresAt}`);
    assert.ok(hasEntry(b, a.subnet!), 'peer still has it');
    assert.doesNotMatch(b.agent!.stderr, new RegExp(`msg="peer removed" subnet=${a.subnet!.replace(/\./g, '\\.')}`));
  });

  test('a deleted peer lease leaves every table within a second and traffic to it stops', async () => {
    const [a, b] = c.nodes as [Node, Node];
    for (const n of [a, b]) assert.ok(hasEntry(n, kernelSubnet));
    assert.equal(ping(a.ns, kernel.pod!, { src: a.pod!, count: 2 }), 2, 'reachable before');
    const t0 = Date.now();
    await store.delete(cidr(kernelSubnet));
    await until(() => !hasEntry(a, kernelSubnet) && !hasEntry(b, kernelSubnet), 3000, 'entry removed');
    const ms = Date.now() - t0;
    assert.ok(ms < 1500, `took ${ms} ms`);
    assert.equal(ping(a.ns, kernel.pod!, { src: a.pod!, count: 2 }), 0, 'unreachable after');
    assert.ok(tableOf(a).drops.noRoute! > 0, 'dropped as no_route');
  });

  test('an expired peer lease leaves the tables', async () => {
    const [a] = c.nodes as [Node];
    await store.put(cidr('10.244.200.0/24'), leaseAttrsFor('vxlan', '198.18.0.50', { vni: 1, vtepMac: '0e:00:00:00:00:01' }), 2);
    await until(() => hasEntry(a, '10.244.200.0/24'), 3000, 'short lease programmed');
    await until(() => !hasEntry(a, '10.244.200.0/24'), 5000, 'expired lease removed');
  });

  test("the agent's own lease deleted by an operator is re-acquired on the same subnet", async () => {
    const [a, b] = c.nodes as [Node, Node];
    await store.delete(cidr(b.subnet!));
    await until(
      async () => (await store.list()).leases.some((l) => formatCidr(l.subnet) === b.subnet && l.attrs.publicIp === b.ip),
      5000,
      're-acquired',
    );
    await until(() => hasEntry(a, b.subnet!), 3000, 'peer sees it again');
    assert.ok(b.agent!.running);
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2);
  });

  test('a restarted agent keeps its subnet and VtepMAC, also after /dev/shm was cleaned', async () => {
    const [a, b] = c.nodes as [Node, Node];
    const mac = tableOf(a).vtepMac!;
    const env = readFileSync(a.subnetFile, 'utf8');
    for (const cleanShm of [false, true]) {
      const tablePath = tableOf(a).tablePath;
      const stop = await a.agent!.stop('SIGTERM');
      assert.equal(stop.code, 0);
      assert.ok(stop.ms < 2000, `SIGTERM took ${stop.ms} ms`);
      if (cleanShm) unlinkSync(tablePath);
      c.start(a, args());
      await a.agent!.waitReady();
      assert.match(a.agent!.stderr, cleanShm ? /reattached=false/ : /reattached=true/);
      assert.equal(readFileSync(a.subnetFile, 'utf8'), env, 'same subnet');
      assert.equal(tableOf(a).vtepMac, mac, 'same VtepMAC');
      const lease = (await store.list()).leases.find((l) => formatCidr(l.subnet) === a.subnet)!;
      assert.equal(vtepMacOf(lease.attrs), mac, 'same VtepMAC in the lease');
      assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 2 }), 2);
    }
  });
});

describe('two agents racing for the last free subnet', { skip }, () => {
  let c: Cluster;
  before(() => {
    c = new Cluster('race', 2, '{"Network":"10.244.0.0/16","SubnetMin":"10.244.7.0","SubnetMax":"10.244.7.0","Backend":{"Type":"vxlan"}}');
  });
  after(() => c?.destroy());

  test('never both get it: one is ready with 10.244.7.0/24, the other fails with "out of subnets" (3 rounds)', async () => {
    for (let round = 0; round < 3; round++) {
      const dataDir = join(c.dir, `data${round}`);
      for (const n of c.nodes) rmSync(n.subnetFile, { force: true });
      const agents = c.nodes.map((n) => c.start(n, ['--data-dir', dataDir, '--net-config-path', c.configFile]));
      await until(
        () => agents.some((a) => / msg=ready /.test(a.stderr)) && agents.some((a) => !a.running),
        20_000,
        'one ready, one exited',
      );
      const winner = agents.find((a) => a.running)!;
      const loser = agents.find((a) => !a.running)!;
      assert.equal(loser.exitCode, 1, loser.stderr);
      assert.match(loser.errorLines().join('\n'), /out of subnets/);
      const s = new EmbeddedStore({ dataDir });
      const { leases } = await s.list();
      await s.close();
      assert.deepEqual(
        leases.map((l) => formatCidr(l.subnet)),
        ['10.244.7.0/24'],
      );
      const w = c.nodes[agents.indexOf(winner)]!;
      assert.equal(leases[0]!.attrs.publicIp, w.ip);
      assert.match(readFileSync(w.subnetFile, 'utf8'), /FLANNEL_SUBNET=10\.244\.7\.1\/24/);
      assert.ok(!existsSync(c.nodes[agents.indexOf(loser)]!.subnetFile), 'the loser wrote no subnet.env');
      assert.equal((await winner.stop()).code, 0);
      for (const n of c.nodes) weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
    }
  });
});
