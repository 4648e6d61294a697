// IPv6 leases in the shared-memory table (dual stack, layout v2): through the
// addon (NativeTable) and the library's LeaseTable, as a writer and as a
// read-only reader would see them.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { BackendId, loadAddon, type NativeGeometry, type NativeTable } from '../../src/dataplane/native';
import { snapshot } from '../../src/dataplane/stats';
import { LeaseTable } from '../../src/dataplane/table';
import { formatStats } from '../../src/cli/table-command';
import { ErrorCode, WeftError } from '../../src/errors';
import { parseCidr } from '../../src/net/cidr';
import { formatCidr6, parseCidr6 } from '../../src/net/cidr6';
import { formatIPv6, ipv6Bytes, parseIPv6 } from '../../src/net/ip6';

const { NativeTable: Table } = loadAddon();
let dir = '';
let seq = 0;
const tablePath = () => join(dir, `t${seq++}.table`);

before(() => {
  dir = mkdtempSync('/dev/shm/weft-table6-test-');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const kNetwork = parseCidr('10.244.0.0/16')!;
const kNetwork6 = parseCidr6('fc00::/48')!;
const dualStack: NativeGeometry = {
  network: kNetwork.ip,
  networkPrefixLen: 16,
  subnetLen: 24,
  backend: BackendId.vxlan,
  network6: ipv6Bytes(kNetwork6.ip),
  network6PrefixLen: 48,
  subnet6Len: 64,
};

function open(geometry: NativeGeometry = dualStack): { native: NativeTable; table: LeaseTable; path: string } {
  const path = tablePath();
  const native = new Table(path, geometry);
  const table = new LeaseTable(() => native, 'vxlan', kNetwork, geometry.network6 ? kNetwork6 : undefined);
  return { native, table, path };
}

/** fc00:0:0:<i>::/64 as Go (and weft) print it. */
const lease6 = (i: number) => formatCidr6({ ip: kNetwork6.ip | (BigInt(i) << 64n), prefixLen: 64 });

describe('IPv6 leases', () => {
  it('are set, looked up, listed after the IPv4 ones and deleted in the library shape', () => {
    const { native, table } = open();
    table.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', vtepMac: '0e:00:00:00:00:02' });
    table.set({ subnet: lease6(2), publicIp: 'fd00:18::2', vtepMac: '0e:00:00:00:06:02' });
    table.set({ subnet: lease6(0x3400), publicIp: 'FD00:18:0:0::3', vtepMac: '0e:00:00:00:06:03' });
    assert.deepEqual(table.entries(), [
      { subnet: '10.244.2.0/24', publicIp: '198.18.0.2', vtepMac: '0e:00:00:00:00:02', backend: 'vxlan' },
      { subnet: 'fc00:0:0:2::/64', publicIp: 'fd00:18::2', vtepMac: '0e:00:00:00:06:02', backend: 'vxlan' },
      { subnet: 'fc00:0:0:3400::/64', publicIp: 'fd00:18::3', vtepMac: '0e:00:00:00:06:03', backend: 'vxlan' },
    ]);
    assert.equal(table.size, 3);
    assert.equal(table.lookup('fc00::2:abcd:0:0:1')?.publicIp, 'fd00:18::2');
    assert.equal(table.lookup('fc00:0:0:3400:ffff:ffff:ffff:ffff')?.vtepMac, '0e:00:00:00:06:03');
    assert.equal(table.lookup('fc00:0:0:5::1'), undefined);
    assert.equal(table.lookup('fc00:1::1'), undefined, 'outside the IPv6 network');
    assert.equal(table.lookup('10.244.2.9')?.publicIp, '198.18.0.2');
    // The peer indexes are per family: an IPv6 public address is no IPv4 peer.
    assert.equal(native.isPeer(ipv6Bytes(parseIPv6('fd00:18::2')!)), true);
    assert.equal(native.isPeer(ipv6Bytes(parseIPv6('fd00:18::9')!)), false);
    assert.equal(native.isPeer((198 << 24) | (18 << 16) | 2), true);
    // Replacing moves the peer.
    table.set({ subnet: lease6(2), publicIp: 'fd00:18::9', vtepMac: '0e:00:00:00:06:09' });
    assert.equal(native.isPeer(ipv6Bytes(parseIPv6('fd00:18::2')!)), false);
    assert.equal(native.isPeer(ipv6Bytes(parseIPv6('fd00:18::9')!)), true);
    assert.equal(table.delete(lease6(2)), true);
    assert.equal(table.delete(lease6(2)), false);
    assert.equal(table.lookup('fc00:0:0:2::1'), undefined);
    assert.equal(table.size, 2);
    native.close();
  });

  it('are refused with the field named when malformed, and nothing changes', () => {
    const { native, table } = open();
    const bad: [object, string, RegExp][] = [
      [{ subnet: 'fc00:0:0:2::1/64', publicIp: 'fd00::2', vtepMac: '0e:00:00:00:06:02' }, 'entry.subnet', /without host bits/],
      [{ subnet: 'fc00:0:0:200::/56', publicIp: 'fd00::2', vtepMac: '0e:00:00:00:06:02' }, 'entry.subnet', /a \/64 inside the IPv6 network fc00::\/48/],
      [{ subnet: 'fc00:1::/64', publicIp: 'fd00::2', vtepMac: '0e:00:00:00:06:02' }, 'entry.subnet', /inside the IPv6 network/],
      [{ subnet: lease6(2), publicIp: '198.18.0.2', vtepMac: '0e:00:00:00:06:02' }, 'entry.publicIp', /unicast IPv6/],
      [{ subnet: lease6(2), publicIp: 'ff02::1', vtepMac: '0e:00:00:00:06:02' }, 'entry.publicIp', /unicast IPv6/],
      [{ subnet: lease6(2), publicIp: '::', vtepMac: '0e:00:00:00:06:02' }, 'entry.publicIp', /unicast IPv6/],
      [{ subnet: lease6(2), publicIp: 'fd00::2' }, 'entry.vtepMac', /required for vxlan/],
      [{ subnet: '10.244.2.0/24', publicIp: 'fd00::2', vtepMac: '0e:00:00:00:00:02' }, 'entry.publicIp', /unicast IPv4/],
    ];
    for (const [entry, option, message] of bad) {
      assert.throws(
        () => table.set(entry as never),
        (err: unknown) => err instanceof WeftError && err.code === ErrorCode.INVALID_OPTION && err.option === option && message.test(err.message),
        `${JSON.stringify(entry)} must be refused naming ${option}`,
      );
    }
    assert.equal(table.size, 0);
    // The addon refuses what slips past the library, with the lease in the message.
    assert.throws(
      () => native.set(ipv6Bytes(parseIPv6('fc00:0:0:2::')!), 63, ipv6Bytes(1n), Buffer.alloc(6, 2), BackendId.vxlan),
      (err: unknown) => err instanceof WeftError && err.code === ErrorCode.TABLE && /cannot set fc00:0:0:2::\/63: .*\/64/.test(err.message),
    );
    native.close();
  });

  it('are refused by an IPv4-only table', () => {
    const { native, table } = open({ network: kNetwork.ip, networkPrefixLen: 16, subnetLen: 24, backend: BackendId.vxlan });
    assert.equal(native.header().subnet6Len, 0);
    assert.throws(
      () => table.set({ subnet: lease6(2), publicIp: 'fd00::2', vtepMac: '0e:00:00:00:06:02' }),
      (err: unknown) => err instanceof WeftError && err.option === 'entry.subnet' && /no IPv6 network/.test(err.message),
    );
    assert.equal(table.lookup('fc00:0:0:2::1'), undefined);
    native.close();
  });

  it('any /64 leases: each address finds its lease, and only its own (property)', () => {
    const { native, table } = open();
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 40 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 0xffff }),
        (leases, host, probe) => {
          for (const e of table.entries()) table.delete(e.subnet);
          for (const i of leases) table.set({ subnet: lease6(i), publicIp: `fd00::${i.toString(16)}:1`, vtepMac: '0e:00:00:00:06:01' });
          const addr = formatIPv6(kNetwork6.ip | (BigInt(probe) << 64n) | host);
          const got = table.lookup(addr);
          if (leases.includes(probe)) {
            assert.equal(got?.subnet, lease6(probe));
            assert.equal(got?.publicIp, formatIPv6(parseIPv6(`fd00::${probe.toString(16)}:1`)!));
          } else {
            assert.equal(got, undefined);
          }
          assert.equal(table.size, leases.length);
        },
      ),
      { numRuns: 200, examples: [[[0, 0xffff], 0n, 0], [[0xffff], (1n << 64n) - 1n, 0xffff]] },
    );
    native.close();
  });

  it('a reader process mapping the file sees them; stats and weft table show the IPv6 part', () => {
    const { native, table, path } = open();
    native.setInfo(parseCidr('10.244.1.0/24')!.ip, 1, 8472, 1450, Buffer.from('0e0000000001', 'hex'), 'flannel.1');
    native.setInfo6(ipv6Bytes(parseCidr6('fc00:0:0:1::/64')!.ip), Buffer.from('0e0000000601', 'hex'));
    table.set({ subnet: lease6(7), publicIp: 'fd00::7', vtepMac: '0e:00:00:00:06:07' });
    const reader = new Table(path, null);
    const h = reader.header();
    assert.equal(h.layoutVersion, 2);
    assert.equal(h.subnet6Len, 64);
    assert.equal(h.direct6Slots, 65536);
    const stats = snapshot(reader, path);
    assert.equal(stats.ipv6Network, 'fc00::/48');
    assert.equal(stats.ipv6Subnet, 'fc00:0:0:1::/64');
    assert.equal(stats.vtepMacV6, '0e:00:00:00:06:01');
    assert.deepEqual(stats.entries, [{ subnet: 'fc00:0:0:7::/64', publicIp: 'fd00::7', vtepMac: '0e:00:00:00:06:07', backend: 'vxlan' }]);
    const text = formatStats(stats);
    assert.match(text, /ipv6 subnet fc00:0:0:1::\/64 {2}network fc00::\/48 {2}vtepMacV6 0e:00:00:00:06:01/);
    assert.match(text, /fc00:0:0:7::\/64\s+fd00::7\s+0e:00:00:00:06:07\s+vxlan/);
    reader.close();
    // Re-attaching with the same geometry keeps the IPv6 leases; another IPv6 network does not.
    native.close();
    const again = new Table(path, dualStack);
    assert.equal(again.reattached(), true);
    assert.equal(again.entries().length, 1);
    again.close();
    const other = new Table(path, { ...dualStack, network6: ipv6Bytes(parseCidr6('fc00:1::/48')!.ip) });
    assert.equal(other.reattached(), false);
    assert.equal(other.entries().length, 0);
    other.close();
  });
});
