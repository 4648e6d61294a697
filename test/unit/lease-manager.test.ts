import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetworkConfig } from '../../src/config/network-config';
import { ErrorCode } from '../../src/errors';
import { LeaseManager, validateRenewMargin, type OwnLease } from '../../src/lease/lease-manager';
import { LeaseWatcher, type PeerEvent } from '../../src/lease/lease-watcher';
import { freeSubnets } from '../../src/lease/subnet-allocator';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import type { EmbeddedStore } from '../../src/store/embedded-store';
import { newStore as newTempStore } from './helpers/temp-store';
import { encodeLeaseAttrs, leaseAttrsFor } from '../../src/store/lease-json';
import type { LeaseStore, StoredLease } from '../../src/store/lease-store';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const net16 = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
const udp16 = parseNetworkConfig('{"Network":"10.244.0.0/16"}');
const vx = (ip: string, mac = '0e:00:00:00:00:01') => leaseAttrsFor('vxlan', ip, { vni: 1, vtepMac: mac });

const newStore = (): EmbeddedStore => newTempStore('lm');

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const subnets = (leases: readonly StoredLease[]) => leases.map((l) => formatCidr(l.subnet)).sort();

describe('subnet allocation', () => {
  it('walks from SubnetMin in SubnetLen steps, skips overlapping leases and stops at 100 candidates', () => {
    const free = freeSubnets(udp16, [cidr('10.244.1.0/24'), cidr('10.244.2.0/23'), cidr('10.244.8.0/22')]);
    assert.equal(free.length, 100);
    assert.deepEqual(free.slice(0, 5).map(formatCidr), [
      '10.244.4.0/24',
      '10.244.5.0/24',
      '10.244.6.0/24',
      '10.244.7.0/24',
      '10.244.12.0/24',
    ]);
  });
});

describe('lease manager', () => {
  it('reuses the lease that has our PublicIP and rewrites it with our current attrs', async () => {
    const store = newStore();
    await store.put(cidr('10.244.5.0/24'), vx('198.18.0.1', '0e:00:00:00:00:aa'), 60);
    await store.put(cidr('10.244.6.0/24'), vx('198.18.0.2'), 60);
    const mgr = new LeaseManager({
      store,
      config: net16,
      attrs: vx('198.18.0.1', '0e:00:00:00:00:bb'),
      previousSubnet: cidr('10.244.9.0/24'),
    });
    const lease = await mgr.acquire();
    assert.equal(formatCidr(lease.subnet), '10.244.5.0/24');
    const stored = (await store.list()).leases.find((l) => formatCidr(l.subnet) === '10.244.5.0/24')!;
    assert.match(encodeLeaseAttrs(stored.attrs), /"VtepMAC":"0e:00:00:00:00:bb"/);
  });

  it('deletes our lease that no longer fits the config, then takes the previous subnet from subnet.env', async () => {
    const store = newStore();
    const narrow = parseNetworkConfig('{"Network":"10.244.0.0/16","SubnetMin":"10.244.10.0","SubnetMax":"10.244.20.0"}');
    await store.put(cidr('10.244.5.0/24'), leaseAttrsFor('udp', '198.18.0.1'), 60);
    const mgr = new LeaseManager({
      store,
      config: narrow,
      attrs: leaseAttrsFor('udp', '198.18.0.1'),
      previousSubnet: cidr('10.244.12.0/24'),
    });
    assert.equal(formatCidr((await mgr.acquire()).subnet), '10.244.12.0/24');
    assert.deepEqual(subnets((await store.list()).leases), ['10.244.12.0/24']);
  });

  it('ignores a previous subnet that is taken and picks randomly among the first 100 free', async () => {
    const store = newStore();
    await store.put(cidr('10.244.1.0/24'), leaseAttrsFor('udp', '198.18.0.9'), 60);
    const first = new LeaseManager({
      store,
      config: udp16,
      attrs: leaseAttrsFor('udp', '198.18.0.1'),
      previousSubnet: cidr('10.244.1.0/24'),
      random: () => 0,
    });
    assert.equal(formatCidr((await first.acquire()).subnet), '10.244.2.0/24');
    const last = new LeaseManager({ store, config: udp16, attrs: leaseAttrsFor('udp', '198.18.0.2'), random: () => 0.9999 });
    // Free now: .3 … .255; the 100th candidate is 10.244.102.0.
    assert.equal(formatCidr((await last.acquire()).subnet), '10.244.102.0/24');
  });

  it('fails with out of subnets when every subnet is taken', async () => {
    const store = newStore();
    const tiny = parseNetworkConfig('{"Network":"10.9.0.0/28","SubnetLen":30}');
    for (const s of ['10.9.0.4/30', '10.9.0.8/30', '10.9.0.12/30']) await store.put(cidr(s), leaseAttrsFor('udp', '198.18.1.1'), null);
    const mgr = new LeaseManager({ store, config: tiny, attrs: leaseAttrsFor('udp', '198.18.0.5') });
    await assert.rejects(mgr.acquire(), { code: ErrorCode.OUT_OF_SUBNETS, message: 'out of subnets' });
  });

  it('honours a reservation with our PublicIP outside SubnetMin..SubnetMax and keeps it TTL-less', async () => {
    const store = newStore();
    const narrow = parseNetworkConfig('{"Network":"10.244.0.0/16","SubnetMin":"10.244.10.0"}');
    await store.put(cidr('10.244.3.0/24'), leaseAttrsFor('udp', '198.18.0.3'), null);
    const mgr = new LeaseManager({ store, config: narrow, attrs: leaseAttrsFor('udp', '198.18.0.3'), ttlSec: 2, renewMarginMs: 1500 });
    const lease = await mgr.acquire();
    await mgr.start();
    assert.equal(formatCidr(lease.subnet), '10.244.3.0/24');
    assert.equal(lease.reservation, true);
    await new Promise((r) => setTimeout(r, 700));
    await mgr.stop();
    const [stored] = (await store.list()).leases;
    assert.equal(stored?.reservation, true);
  });

  it('gives up after 10 lost races with an embedder store that never lets a create win', async () => {
    const inner = newStore();
    let creates = 0;
    // An embedder's own store: any object implementing LeaseStore works.
    const store: LeaseStore = {
      list: () => inner.list(),
      acquireIfAbsent: async () => {
        creates++;
        return false;
      },
      put: (s, a, t) => inner.put(s, a, t),
      delete: (s) => inner.delete(s),
      getConfig: () => inner.getConfig(),
      putConfig: (t) => inner.putConfig(t),
      watch: (r, f, o) => inner.watch(r, f, o),
      close: async () => undefined,
    };
    const mgr = new LeaseManager({ store, config: udp16, attrs: leaseAttrsFor('udp', '198.18.0.1') });
    await assert.rejects(mgr.acquire(), { code: ErrorCode.STORE, message: 'max retries reached trying to acquire a subnet' });
    assert.equal(creates, 10);
  });

  it('renews its lease before the margin so that a short TTL never expires', async () => {
    const store = newStore();
    const renewals: OwnLease[] = [];
    // TTL 2 s renewed 1.2 s before expiry: every ~0.8 s. Three renewals take
    // longer than one TTL, so the lease is still there only if they happened.
    const mgr = new LeaseManager({
      store,
      config: udp16,
      attrs: leaseAttrsFor('udp', '198.18.0.1'),
      ttlSec: 2,
      renewMarginMs: 1200,
      onRenew: (l) => renewals.push(l),
    });
    const lease = await mgr.acquire();
    await mgr.start();
    await until(() => renewals.length >= 3, 10_000);
    const snap = await store.list();
    await mgr.stop();
    assert.deepEqual(subnets(snap.leases), [formatCidr(lease.subnet)]);
    assert.ok(snap.leases[0]!.expiresAt! > lease.expiresAt!, 'the TTL moved forward');
  });

  it('rejects a renew margin outside 1..1439 minutes', () => {
    assert.equal(validateRenewMargin(60), 60);
    assert.throws(() => validateRenewMargin(0), /subnetLeaseRenewMargin must be an integer number of minutes 1\.\.1439, got 0/);
    assert.throws(() => validateRenewMargin(1440), /got 1440/);
  });

  it('re-acquires the same subnet when an operator deletes its lease', async () => {
    const store = newStore();
    const renewed: OwnLease[] = [];
    const mgr = new LeaseManager({ store, config: udp16, attrs: leaseAttrsFor('udp', '198.18.0.1'), onRenew: (l) => renewed.push(l) });
    const lease = await mgr.acquire();
    await mgr.start();
    await store.delete(lease.subnet);
    await until(() => renewed.length > 0);
    assert.deepEqual(subnets((await store.list()).leases), [formatCidr(lease.subnet)]);
    await mgr.stop();
  });

  it('moves to another subnet when another node takes over its subnet, and reports that node as a peer', async () => {
    const store = newStore();
    const changes: Array<[string, string]> = [];
    const peers: PeerEvent[] = [];
    const mgr = new LeaseManager({
      store,
      config: udp16,
      attrs: leaseAttrsFor('udp', '198.18.0.1'),
      random: () => 0,
      onLeaseChange: (next, prev) => changes.push([formatCidr(prev.subnet), formatCidr(next.subnet)]),
      onPeer: (e) => peers.push(e),
    });
    const lease = await mgr.acquire();
    assert.equal(formatCidr(lease.subnet), '10.244.1.0/24');
    await mgr.start();
    await store.put(cidr('10.244.1.0/24'), leaseAttrsFor('udp', '198.18.0.2'), 60);
    await until(() => changes.length > 0);
    await until(() => peers.some((e) => e.type === 'added' && e.lease.attrs.publicIp === '198.18.0.2'));
    await mgr.stop();
    assert.deepEqual(changes, [['10.244.1.0/24', '10.244.2.0/24']]);
    const snap = await store.list();
    assert.deepEqual(snap.leases.map((l) => `${formatCidr(l.subnet)} ${l.attrs.publicIp}`).sort(), [
      '10.244.1.0/24 198.18.0.2',
      '10.244.2.0/24 198.18.0.1',
    ]);
  });

  it('reports peers as added and removed, ignoring its own lease and leases of another backend', async () => {
    const store = newStore();
    const events: string[] = [];
    await store.put(cidr('10.244.7.0/24'), vx('198.18.0.7'), 60);
    await store.put(cidr('10.244.8.0/24'), leaseAttrsFor('udp', '198.18.0.8'), 60);
    const mgr = new LeaseManager({
      store,
      config: net16,
      attrs: vx('198.18.0.1'),
      onPeer: (e) => events.push(`${e.type} ${formatCidr(e.lease.subnet)} ${e.lease.attrs.publicIp}`),
    });
    await mgr.acquire();
    await mgr.start();
    assert.deepEqual(events, ['added 10.244.7.0/24 198.18.0.7']);
    await store.put(cidr('10.244.9.0/24'), vx('198.18.0.9'), 60);
    await store.put(cidr('10.244.9.0/24'), vx('198.18.0.9'), 60); // a renewal: no second event
    await store.put(cidr('10.244.10.0/24'), leaseAttrsFor('host-gw', '198.18.0.10'), 60);
    await store.delete(cidr('10.244.7.0/24'));
    await mgr.renewNow();
    await until(() => events.length >= 3).catch((e: Error) => {
      throw new Error(`${e.message}; events so far: ${JSON.stringify(events)}`);
    });
    await new Promise((r) => setTimeout(r, 150));
    await mgr.stop();
    assert.deepEqual(events, ['added 10.244.7.0/24 198.18.0.7', 'added 10.244.9.0/24 198.18.0.9', 'removed 10.244.7.0/24 198.18.0.7']);
    assert.deepEqual(subnets(mgr.peers()), ['10.244.9.0/24']);
  });
});

describe('lease watcher', () => {
  const lease = (s: string, ip: string): StoredLease => ({ subnet: cidr(s), attrs: leaseAttrsFor('udp', ip), reservation: false });

  it('diffs a snapshot against its cache and returns the cached lease on removal', () => {
    const w = new LeaseWatcher({ backendType: 'udp', ownSubnet: cidr('10.244.1.0/24') });
    assert.deepEqual(
      w.reset([lease('10.244.1.0/24', '1.1.1.1'), lease('10.244.2.0/24', '2.2.2.2')]).map((e) => e.type),
      ['added'],
    );
    const events = w.reset([lease('10.244.3.0/24', '3.3.3.3')]);
    assert.deepEqual(
      events.map((e) => `${e.type} ${formatCidr(e.lease.subnet)} ${e.lease.attrs.publicIp}`),
      ['added 10.244.3.0/24 3.3.3.3', 'removed 10.244.2.0/24 2.2.2.2'],
    );
    const del = w.apply({ type: 'delete', subnet: cidr('10.244.3.0/24'), revision: 9 });
    assert.equal(del[0]?.type === 'removed' && del[0].lease.attrs.publicIp, '3.3.3.3');
  });
});
