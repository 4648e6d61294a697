// The control plane's IPv6 vocabulary, byte for byte against flannel-facts
// §2 (keys, lease JSON) and §8 (ip6tables rules), and the lease manager's
// dual-stack and IPv6-only allocation on the embedded store.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetworkConfig } from '../../src/config/network-config';
import { forwardRules6, masqRules6, ruleText } from '../../src/host/iptables';
import { LeaseManager } from '../../src/lease/lease-manager';
import { freeSubnets6 } from '../../src/lease/subnet-allocator';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import { formatCidr6, parseCidr6 } from '../../src/net/cidr6';
import type { EmbeddedStore } from '../../src/store/embedded-store';
import { newStore as newTempStore } from './helpers/temp-store';
import { NO_IPV4_SUBNET, makeSubnetKey, parseSubnetKey, subnetKeyPath } from '../../src/store/keys';
import { decodeLeaseAttrs, encodeLeaseAttrs, leaseAttrsFor, vtepMacOf, vtepMacV6Of } from '../../src/store/lease-json';
import { leaseId } from '../../src/store/lease-store';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const cidr6 = (s: string) => parseCidr6(s, { strict: true })!;

const newStore = (): EmbeddedStore => newTempStore('ds');

describe('dual-stack keys', () => {
  it("writes flannel's documented dual-stack key and the IPv6-only form flannel's MakeSubnetKey gives", () => {
    assert.equal(makeSubnetKey(cidr('10.5.52.0/24'), cidr6('fc00:0:0:3400::/64')), '10.5.52.0-24&fc00:0:0:3400::-64');
    assert.equal(
      subnetKeyPath('/coreos.com/network', NO_IPV4_SUBNET, cidr6('fd00:10:244:2::/64')),
      '/coreos.com/network/subnets/0.0.0.0-0&fd00:10:244:2::-64',
    );
  });

  it('parses both forms back; refuses an IPv6 part with host bits, a bad length, or 0.0.0.0-0 alone', () => {
    const d = parseSubnetKey('/coreos.com/network/subnets/10.5.52.0-24&fc00:0:0:3400::-64')!;
    assert.equal(formatCidr(d.subnet), '10.5.52.0/24');
    assert.equal(formatCidr6(d.ipv6Subnet!), 'fc00:0:0:3400::/64');
    const o = parseSubnetKey('0.0.0.0-0&fd00:10:244:2::-64')!;
    assert.equal(o.subnet, NO_IPV4_SUBNET);
    assert.equal(formatCidr6(o.ipv6Subnet!), 'fd00:10:244:2::/64');
    for (const bad of ['0.0.0.0-0', '10.5.52.0-24&fc00::1-64', '10.5.52.0-24&fc00::-128', '10.5.52.0-24&fc00:::-64']) {
      assert.equal(parseSubnetKey(bad), undefined, bad);
    }
  });

  it('names a lease by both subnets: the same IPv4 subnet with two IPv6 ones is two leases', () => {
    assert.notEqual(
      leaseId({ subnet: cidr('10.5.52.0/24'), ipv6Subnet: cidr6('fd00::/64') }),
      leaseId({ subnet: cidr('10.5.52.0/24'), ipv6Subnet: cidr6('fd00:0:0:1::/64') }),
    );
    assert.equal(leaseId(cidr('10.5.52.0/24')), '10.5.52.0-24');
  });
});

describe('dual-stack lease JSON', () => {
  it('writes PublicIPv6 and BackendV6Data in flannel field order; one VtepMAC in both data objects', () => {
    const a = leaseAttrsFor('vxlan', '198.18.0.2', { vni: 1, vtepMac: '0E:2A:0A:F4:02:00' }, { publicIpv6: '2001:2:0:0::2' });
    assert.equal(
      encodeLeaseAttrs(a),
      '{"PublicIP":"198.18.0.2","PublicIPv6":"2001:2::2","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"0e:2a:0a:f4:02:00"},"BackendV6Data":{"VNI":1,"VtepMAC":"0e:2a:0a:f4:02:00"}}',
    );
  });

  it('writes an IPv6-only vxlan lease as flanneld does: PublicIP 0.0.0.0 and no BackendData', () => {
    const a = leaseAttrsFor('vxlan', '0.0.0.0', { vni: 1, vtepMac: '0e:2a:0a:f4:02:00' }, { publicIpv6: '2001:2::2', ipv4: false });
    assert.equal(
      encodeLeaseAttrs(a),
      '{"PublicIP":"0.0.0.0","PublicIPv6":"2001:2::2","BackendType":"vxlan","BackendV6Data":{"VNI":1,"VtepMAC":"0e:2a:0a:f4:02:00"}}',
    );
    assert.equal(
      encodeLeaseAttrs(leaseAttrsFor('host-gw', '198.18.0.3', undefined, { publicIpv6: '2001:2::3' })),
      '{"PublicIP":"198.18.0.3","PublicIPv6":"2001:2::3","BackendType":"host-gw"}',
    );
  });

  it('reads a real flanneld dual-stack lease (two devices, two MACs) and re-encodes it byte for byte', () => {
    const text =
      '{"PublicIP":"198.18.0.9","PublicIPv6":"2001:2::9","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"},"BackendV6Data":{"VNI":1,"VtepMAC":"4a:1b:7c:00:11:22"}}';
    const a = decodeLeaseAttrs(text);
    assert.equal(a.publicIpv6, '2001:2::9');
    assert.equal(vtepMacOf(a), 'c6:d2:32:6f:8f:44');
    assert.equal(vtepMacV6Of(a), '4a:1b:7c:00:11:22');
    assert.equal(encodeLeaseAttrs(a), text);
  });

  it('refuses a PublicIPv6 that is not an IPv6 address and normalizes one written long-hand', () => {
    assert.throws(
      () => decodeLeaseAttrs('{"PublicIP":"198.18.0.9","PublicIPv6":"198.18.0.9"}'),
      /PublicIPv6 "198.18.0.9" is not an IPv6 address/,
    );
    assert.equal(decodeLeaseAttrs('{"PublicIP":"198.18.0.9","PublicIPv6":"2001:0002:0:0:0:0:0:0009"}').publicIpv6, '2001:2::9');
  });
});

describe('ip6tables rules', () => {
  it("are flannel's masquerade list with the IPv6 network and subnet and ff00::/8 for multicast", () => {
    const rules = masqRules6(cidr6('fd00:10:244::/56'), cidr6('fd00:10:244:3::/64'), { randomFully: true });
    assert.ok(rules.every((r) => r.family === 6 && r.table === 'nat'));
    const c = '-m comment --comment "flanneld masq"';
    assert.deepEqual(rules.map(ruleText), [
      `-A POSTROUTING ${c} -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244:3::/64 -d fd00:10:244::/56 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244::/56 -d fd00:10:244:3::/64 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s fd00:10:244::/56 -d fd00:10:244:3::/64 ${c} -j RETURN`,
      `-A FLANNEL-POSTRTG -s fd00:10:244::/56 ! -d ff00::/8 ${c} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s fd00:10:244::/56 -d fd00:10:244::/56 ${c} -j MASQUERADE --random-fully`,
    ]);
  });

  it('and the forward rules for the IPv6 network, installed through ip6tables', async () => {
    const f = '-m comment --comment "flanneld forward"';
    assert.deepEqual(forwardRules6(cidr6('fd00:10:244::/56')).map(ruleText), [
      `-A FORWARD ${f} -j FLANNEL-FWD`,
      `-A FLANNEL-FWD -s fd00:10:244::/56 ${f} -j ACCEPT`,
      `-A FLANNEL-FWD -d fd00:10:244::/56 ${f} -j ACCEPT`,
    ]);
    // The commands go to ip6tables / ip6tables-restore, never iptables.
    const { installRules } = await import('../../src/host/iptables');
    const calls: string[] = [];
    await installRules(forwardRules6(cidr6('fd00:10:244::/56')), async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      return { code: 0, stdout: '', stderr: '' };
    });
    assert.deepEqual(
      calls.map((c) => c.split(' ')[0]),
      ['ip6tables', 'ip6tables-restore'],
    );
  });
});

describe('dual-stack allocation', () => {
  const ds = parseNetworkConfig(
    '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}',
  );
  const v6only = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}');
  const attrs = (i: number, ipv4 = true) =>
    leaseAttrsFor(
      'vxlan',
      ipv4 ? `198.18.0.${i}` : '0.0.0.0',
      { vni: 1, vtepMac: `0e:00:00:00:00:0${i}` },
      { publicIpv6: `2001:2::${i}`, ipv4 },
    );

  it('gives three nodes distinct /24 and /64 leases under dual-stack keys, reused by PublicIP on restart', async () => {
    const store = newStore();
    const leases = [];
    for (const i of [1, 2, 3]) leases.push(await new LeaseManager({ store, config: ds, attrs: attrs(i) }).acquire());
    assert.equal(new Set(leases.map((l) => formatCidr(l.subnet))).size, 3);
    assert.equal(new Set(leases.map((l) => formatCidr6(l.ipv6Subnet!))).size, 3);
    for (const l of leases) {
      assert.ok(l.ipv6Subnet!.prefixLen === 64 && l.ipv6Subnet!.ip >= ds.ipv6!.subnetMin && l.ipv6Subnet!.ip <= ds.ipv6!.subnetMax);
    }
    const snap = await store.list();
    assert.equal(snap.leases.length, 3);
    for (const l of snap.leases) assert.ok(l.ipv6Subnet, 'every stored lease carries its IPv6 subnet');
    const again = await new LeaseManager({ store, config: ds, attrs: attrs(2) }).acquire();
    assert.equal(leaseId(again), leaseId(leases[1]!));
    assert.equal((await store.list()).leases.length, 3);
  });

  it('an IPv6-only network gives each node its own /64 (matched by PublicIPv6) under 0.0.0.0-0& keys', async () => {
    const store = newStore();
    const a = await new LeaseManager({ store, config: v6only, attrs: attrs(1, false) }).acquire();
    const b = await new LeaseManager({ store, config: v6only, attrs: attrs(2, false) }).acquire();
    assert.equal(a.subnet, NO_IPV4_SUBNET);
    assert.notEqual(formatCidr6(a.ipv6Subnet!), formatCidr6(b.ipv6Subnet!));
    const keys = (await store.list()).leases.map((l) => makeSubnetKey(l.subnet, l.ipv6Subnet)).sort();
    assert.ok(
      keys.every((k) => /^0\.0\.0\.0-0&fd00:10:244:[0-9a-f]+::-64$/.test(k)),
      keys.join(' '),
    );
    const a2 = await new LeaseManager({ store, config: v6only, attrs: attrs(1, false) }).acquire();
    assert.equal(leaseId(a2), leaseId(a));
  });

  it('reuses the previous IPv6 subnet from subnet.env and drops an own lease without IPv6 once EnableIPv6 is on', async () => {
    const store = newStore();
    await store.put(cidr('10.244.9.0/24'), attrs(1), 60); // an IPv4-only lease of ours from before
    const prev = cidr6('fd00:10:244:42::/64');
    const l = await new LeaseManager({
      store,
      config: ds,
      attrs: attrs(1),
      previousSubnet: cidr('10.244.7.0/24'),
      previousIpv6Subnet: prev,
    }).acquire();
    assert.equal(formatCidr(l.subnet), '10.244.7.0/24');
    assert.equal(formatCidr6(l.ipv6Subnet!), 'fd00:10:244:42::/64');
    const keys = (await store.list()).leases.map((x) => makeSubnetKey(x.subnet, x.ipv6Subnet));
    assert.deepEqual(keys, ['10.244.7.0-24&fd00:10:244:42::-64']);
  });

  it('walks IPv6 candidates past taken ones and stops at 100', () => {
    const taken = [cidr6('fd00:10:244:1::/64'), cidr6('fd00:10:244:3::/64')];
    const free = freeSubnets6(ds, taken);
    assert.equal(free.length, 100);
    assert.deepEqual(free.slice(0, 3).map(formatCidr6), ['fd00:10:244:2::/64', 'fd00:10:244:4::/64', 'fd00:10:244:5::/64']);
  });
});
