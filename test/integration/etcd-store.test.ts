// The etcd store against a real etcd started here on 127.0.0.1 (free ports,
// temp data dir), killed by PID afterwards. Needs Debian's etcd-server.

import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { parseNetworkConfig } from '../../src/config/network-config';
import { ErrorCode, WeftError } from '../../src/errors';
import { LeaseManager } from '../../src/lease/lease-manager';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import { EtcdStore } from '../../src/store/etcd-store';
import { leaseAttrsFor } from '../../src/store/lease-json';
import type { StoreEvent } from '../../src/store/lease-store';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const vxConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan","VNI":1}}';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

async function until(pred: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

let etcd: ChildProcess | undefined;
let dataDir = '';
let endpoint = '';
let raw: Etcd3;
const opened: EtcdStore[] = [];
function store(prefix?: string): EtcdStore {
  const s = new EtcdStore(prefix === undefined ? { endpoints: [endpoint] } : { endpoints: [endpoint], prefix });
  opened.push(s);
  return s;
}

before(async () => {
  let bin: string;
  try {
    bin = execFileSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('etcd is not installed: apt-get install etcd-server (these tests start a real etcd)');
  }
  const [client, peer] = [await freePort(), await freePort()];
  dataDir = mkdtempSync(join(tmpdir(), 'weft-etcd-'));
  endpoint = `http://127.0.0.1:${client}`;
  const peerUrl = `http://127.0.0.1:${peer}`;
  let log = '';
  etcd = spawn(
    bin,
    [
      '--name',
      'weft-test',
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      endpoint,
      '--advertise-client-urls',
      endpoint,
      '--listen-peer-urls',
      peerUrl,
      '--initial-advertise-peer-urls',
      peerUrl,
      '--initial-cluster',
      `weft-test=${peerUrl}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  etcd.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  raw = new Etcd3({ hosts: endpoint });
  const end = Date.now() + 15000;
  for (;;) {
    try {
      await raw.get('/ping').string();
      break;
    } catch (err) {
      if (Date.now() > end || etcd.exitCode !== null) throw new Error(`etcd did not come up: ${(err as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});

after(async () => {
  for (const s of opened) await s.close().catch(() => undefined);
  raw?.close();
  if (etcd?.pid !== undefined && etcd.exitCode === null) {
    etcd.kill('SIGKILL');
    await new Promise((r) => etcd!.once('exit', r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('etcd store', () => {
  it('acquires a lease under flannel key with flannel JSON and a 24 h etcd lease', async () => {
    const s = store();
    const attrs = leaseAttrsFor('vxlan', '198.18.0.1', { vni: 1, vtepMac: '0e:2a:0a:f4:01:00' });
    const mgr = new LeaseManager({ store: s, config: parseNetworkConfig(vxConfig), attrs, previousSubnet: cidr('10.244.3.0/24') });
    const lease = await mgr.acquire();
    assert.equal(formatCidr(lease.subnet), '10.244.3.0/24');
    const kvs = await raw.getAll().prefix('/coreos.com/network/subnets/').exec();
    assert.equal(kvs.kvs.length, 1);
    const kv = kvs.kvs[0]!;
    assert.equal(kv.key.toString(), '/coreos.com/network/subnets/10.244.3.0-24');
    assert.equal(
      kv.value.toString(),
      '{"PublicIP":"198.18.0.1","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:2a:0a:f4:01:00"}}',
    );
    const ttl = await raw.leaseClient.leaseTimeToLive({ ID: kv.lease, keys: false });
    assert.ok(Number(ttl.grantedTTL) === 86400 && Number(ttl.TTL) > 86000, `TTL ${ttl.TTL}/${ttl.grantedTTL}`);
    await mgr.release();
    assert.equal((await raw.getAll().prefix('/coreos.com/network/subnets/').keys()).length, 0);
  });

  it('creates a key only when absent and revokes the lease it granted for a lost race', async () => {
    const s = store();
    const before = (await raw.leaseClient.leaseLeases({})).leases.length;
    assert.equal(await s.acquireIfAbsent(cidr('10.244.20.0/24'), leaseAttrsFor('udp', '198.18.0.2'), 60), true);
    assert.equal(await s.acquireIfAbsent(cidr('10.244.20.0/24'), leaseAttrsFor('udp', '198.18.0.3'), 60), false);
    assert.equal(await raw.get('/coreos.com/network/subnets/10.244.20.0-24').string(), '{"PublicIP":"198.18.0.2","PublicIPv6":null}');
    assert.equal((await raw.leaseClient.leaseLeases({})).leases.length, before + 1, 'the losing lease was revoked');
    await s.delete(cidr('10.244.20.0/24'));
  });

  it('reads a flanneld reservation (a key without lease) and keeps it lease-less when reusing it', async () => {
    await raw
      .put('/coreos.com/network/subnets/10.244.77.0-24')
      .value('{"PublicIP":"198.18.0.77","PublicIPv6":null,"BackendType":"host-gw"}');
    const s = store();
    const cfg = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"host-gw"}}');
    const mgr = new LeaseManager({ store: s, config: cfg, attrs: leaseAttrsFor('host-gw', '198.18.0.77') });
    const lease = await mgr.acquire();
    assert.equal(formatCidr(lease.subnet), '10.244.77.0/24');
    assert.equal(lease.reservation, true);
    const kv = (await raw.getAll().prefix('/coreos.com/network/subnets/10.244.77.0-24').exec()).kvs[0]!;
    assert.equal(String(kv.lease), '0');
    await s.delete(lease.subnet);
  });

  it('stores the config and leases under a custom prefix', async () => {
    const s = store('/weft/net2/');
    await s.putConfig(vxConfig);
    assert.equal(await raw.get('/weft/net2/config').string(), vxConfig);
    assert.equal(await s.getConfig(), vxConfig);
    await s.put(cidr('10.9.1.0/24'), leaseAttrsFor('udp', '198.18.0.9'), 30);
    assert.deepEqual(await raw.getAll().prefix('/weft/net2/subnets/').keys(), ['/weft/net2/subnets/10.9.1.0-24']);
    assert.equal(await store('/nothing/here').getConfig(), undefined);
  });

  it('watches puts, deletes and TTL expiry from a revision', async () => {
    const s = store('/w1');
    const events: StoreEvent[] = [];
    await s.put(cidr('10.1.1.0/24'), leaseAttrsFor('udp', '198.18.0.1'), 60);
    const snap = await s.list();
    const w = s.watch(snap.revision, (e) => events.push(e));
    await raw.put('/w1/subnets/10.1.2.0-24').value('{"PublicIP":"198.18.0.2","PublicIPv6":null}');
    await s.delete(cidr('10.1.1.0/24'));
    await s.put(cidr('10.1.3.0/24'), leaseAttrsFor('udp', '198.18.0.3'), 2);
    await until(() => events.filter((e) => e.type === 'delete').length >= 2, 10000);
    await w.close();
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.type === 'resync' ? '' : formatCidr(e.subnet)}`),
      ['put 10.1.2.0/24', 'delete 10.1.1.0/24', 'put 10.1.3.0/24', 'delete 10.1.3.0/24'],
    );
  });

  it('re-lists and resyncs a watch whose revision was compacted', async () => {
    const s = store('/w2');
    await s.put(cidr('10.2.1.0/24'), leaseAttrsFor('udp', '198.18.0.1'), 60);
    const rev = (await s.list()).revision;
    await s.put(cidr('10.2.2.0/24'), leaseAttrsFor('udp', '198.18.0.2'), 60);
    await s.put(cidr('10.2.3.0/24'), leaseAttrsFor('udp', '198.18.0.3'), 60);
    const head = (await s.list()).revision;
    await raw.kv.compact({ revision: String(head), physical: true });
    const events: StoreEvent[] = [];
    const w = s.watch(rev, (e) => events.push(e));
    await until(() => events.some((e) => e.type === 'resync'));
    await s.delete(cidr('10.2.1.0/24'));
    await until(() => events.some((e) => e.type === 'delete'));
    await w.close();
    const resync = events.find((e) => e.type === 'resync');
    assert.deepEqual(resync?.type === 'resync' && resync.leases.map((l) => formatCidr(l.subnet)), [
      '10.2.1.0/24',
      '10.2.2.0/24',
      '10.2.3.0/24',
    ]);
    assert.equal(events.at(-1)?.type, 'delete');
  });

  it('renews a short-TTL lease in etcd before it expires', async () => {
    const s = store('/w3');
    let renewals = 0;
    const mgr = new LeaseManager({
      store: s,
      config: parseNetworkConfig(vxConfig),
      attrs: leaseAttrsFor('vxlan', '198.18.0.5', { vni: 1, vtepMac: '0e:00:00:00:00:05' }),
      ttlSec: 3,
      renewMarginMs: 2000,
      onRenew: () => renewals++,
    });
    const lease = await mgr.acquire();
    await mgr.start();
    await new Promise((r) => setTimeout(r, 4500));
    await mgr.stop();
    assert.ok(renewals >= 2, `renewed ${renewals} times`);
    assert.deepEqual(
      (await s.list()).leases.map((l) => formatCidr(l.subnet)),
      [formatCidr(lease.subnet)],
    );
  });

  it('reports an unreachable endpoint as a recoverable store error naming it', async () => {
    const port = await freePort();
    const s = new EtcdStore({ endpoints: [`http://127.0.0.1:${port}`], callTimeoutMs: 1000 });
    try {
      await assert.rejects(s.list(), (err: unknown) => {
        assert.ok(err instanceof WeftError);
        assert.equal(err.code, ErrorCode.STORE);
        assert.equal(err.recoverable, true);
        assert.match(err.message, new RegExp(`etcd at http://127\\.0\\.0\\.1:${port} is unreachable`));
        return true;
      });
    } finally {
      await s.close();
    }
  });
});
