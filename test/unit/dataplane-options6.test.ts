// DataPlane options for dual stack (publicIpv6, ipv6Network, ipv6Subnet,
// vtepMacV6): resolved as given, and every bad value refused with an
// ERR_WEFT_INVALID_OPTION naming the option, before anything touches the host.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dualStackOf, ipv4Of, resolveOptions, type DataPlaneOptions } from '../../src/dataplane/options';
import { formatCidr6 } from '../../src/net/cidr6';
import { ErrorCode, WeftError } from '../../src/errors';

// mtu given: no interface holds these addresses here.
const base: DataPlaneOptions = {
  backend: 'vxlan',
  publicIp: '198.18.0.1',
  network: '10.244.0.0/16',
  subnet: '10.244.1.0/24',
  mtu: 1450,
  tablePath: '/dev/shm/weft-options6-unused.table',
};
const dual: DataPlaneOptions = {
  ...base,
  publicIpv6: '2001:2:0:0::1',
  ipv6Network: 'fc00::/48',
  ipv6Subnet: 'fc00:0:0:3400::/64',
};

function refuses(options: DataPlaneOptions, option: string, message: RegExp): void {
  assert.throws(
    () => resolveOptions(options),
    (err: unknown) => {
      assert.ok(err instanceof WeftError, String(err));
      assert.equal(err.code, ErrorCode.INVALID_OPTION);
      assert.equal((err as WeftError & { option?: string }).option, option, err.message);
      assert.match(err.message, message);
      return true;
    },
  );
}

describe('DataPlane IPv6 options', () => {
  it('resolve: normalised address, prefixes, IPv6 MTU from the device MTU when no interface holds the address', () => {
    const o = resolveOptions({ ...dual, vtepMacV6: '0E:2A:0A:F4:01:06' });
    assert.equal(o.publicIpv6, '2001:2::1');
    assert.equal(o.publicIpv6Bytes?.toString('hex'), '20010002000000000000000000000001');
    assert.equal(o.ipv6Network && formatCidr6(o.ipv6Network), 'fc00::/48');
    assert.equal(o.ipv6Subnet && formatCidr6(o.ipv6Subnet), 'fc00:0:0:3400::/64');
    assert.equal(o.vtepMacV6, '0e:2a:0a:f4:01:06');
    // No interface to read: the IPv4 underlay stands for it (1450 + 50 − 70).
    assert.equal(o.mtu6, 1430);
    const v4 = resolveOptions(base);
    assert.equal(v4.publicIpv6, undefined);
    assert.equal(dualStackOf(v4), undefined);
  });

  it('come together or not at all: the missing one is named', () => {
    for (const missing of ['publicIpv6', 'ipv6Network', 'ipv6Subnet'] as const) {
      const o: Record<string, unknown> = { ...dual };
      delete o[missing];
      refuses(o as unknown as DataPlaneOptions, `options.${missing}`, /dual stack needs all three/);
    }
    refuses({ ...base, vtepMacV6: '0e:2a:0a:f4:01:06' }, 'options.publicIpv6', /dual stack needs all three/);
  });

  it('are refused for the udp backend, which carries IPv4 only', () => {
    const udp = { ...dual, backend: 'udp' as const };
    refuses(udp, 'options.publicIpv6', /absent for the udp backend \(flannel's udp backend carries IPv4 only\)/);
    const { publicIpv6: _unused, ...noPublic } = udp;
    refuses(noPublic, 'options.ipv6Network', /absent for the udp backend/);
  });

  it('name the bad option', () => {
    for (const bad of ['::', '::1', 'ff02::1', 'fe80::1', '198.18.0.1', '2001:2::1/64', 'nope', 7]) {
      refuses({ ...dual, publicIpv6: bad as string }, 'options.publicIpv6', /^options\.publicIpv6 must be a unicast IPv6 address/);
    }
    for (const bad of ['fc00::1/48', 'fc00::/125', '10.244.0.0/16', 'fc00::', 48]) {
      refuses({ ...dual, ipv6Network: bad as string }, 'options.ipv6Network', /^options\.ipv6Network must be an IPv6 CIDR/);
    }
    for (const bad of ['fc00:0:0:3400::1/64', 'fc00::/127', 'fc00:0:0:3400::']) {
      refuses({ ...dual, ipv6Subnet: bad }, 'options.ipv6Subnet', /^options\.ipv6Subnet must be an IPv6 CIDR/);
    }
    refuses({ ...dual, ipv6Subnet: 'fc01::/64' }, 'options.ipv6Subnet', /inside options\.ipv6Network fc00::\/48/);
    refuses({ ...dual, ipv6Subnet: 'fc00::/72' }, 'options.ipv6Subnet', /at most \/68 in a \/48 network/);
    for (const bad of ['01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', 'zz', 5]) {
      refuses({ ...dual, vtepMacV6: bad as string }, 'options.vtepMacV6', /^options\.vtepMacV6 must be a unicast MAC/);
    }
    // The IPv6 minimum MTU: a device MTU under 1280 + 20 leaves the IPv6 underlay too little.
    refuses({ ...dual, mtu: 1280 }, 'options.mtu', /at least 1280 on the IPv6 underlay/);
  });
});

describe('DataPlane IPv6-only options (no IPv4 part)', () => {
  const only: DataPlaneOptions = {
    backend: 'vxlan',
    publicIpv6: '2001:2:0:0::1',
    ipv6Network: 'fc00::/48',
    ipv6Subnet: 'fc00:0:0:3400::/64',
    mtu: 1430,
    tablePath: '/dev/shm/weft-options6-unused.table',
  };

  it('resolve without publicIp, network and subnet: no IPv4 part, device flannel-v6.<vni>, IPv6 MTU = the device MTU', () => {
    const o = resolveOptions(only);
    assert.equal(o.publicIp, undefined);
    assert.equal(o.publicIpNum, undefined);
    assert.equal(o.network, undefined);
    assert.equal(o.subnet, undefined);
    assert.equal(ipv4Of(o), undefined);
    assert.equal(o.device, 'flannel-v6.1');
    assert.equal(o.mtu, 1430);
    // No interface holds the address here: the IPv6 MTU is the device MTU (no IPv4 underlay to stand for it).
    assert.equal(o.mtu6, 1430);
    assert.equal(dualStackOf(o)?.subnet && formatCidr6(dualStackOf(o)!.subnet), 'fc00:0:0:3400::/64');
    assert.equal(resolveOptions({ ...only, vni: 7 }).device, 'flannel-v6.7');
    assert.equal(resolveOptions({ ...only, device: 'weft6' }).device, 'weft6');
    // Dual stack keeps flannel.<vni>.
    const ds = resolveOptions({ ...only, publicIp: '198.18.0.1', network: '10.244.0.0/16', subnet: '10.244.1.0/24', mtu: 1450 });
    assert.equal(ds.device, 'flannel.1');
    assert.equal(ipv4Of(ds)?.publicIp, '198.18.0.1');
  });

  it('need an mtu, or an interface holding publicIpv6 to derive it from (the IPv6 underlay − 70)', () => {
    const { mtu: _unused, ...noMtu } = only;
    refuses(noMtu, 'options.mtu', /^options\.mtu must be given: publicIpv6 2001:2::1 is on no local interface/);
    refuses({ ...only, mtu: 1279 }, 'options.mtu', /at least 1280 on the IPv6 underlay/);
  });

  it('IPv4 options come all three or none: the missing one is named', () => {
    const v4 = { publicIp: '198.18.0.1', network: '10.244.0.0/16', subnet: '10.244.1.0/24' };
    for (const missing of ['publicIp', 'network', 'subnet'] as const) {
      const o: Record<string, unknown> = { ...only, ...v4 };
      delete o[missing];
      refuses(o as unknown as DataPlaneOptions, `options.${missing}`, /the IPv4 part needs all three/);
    }
  });

  it('a part of each family missing names the IPv6 one; neither family names publicIp', () => {
    const { ipv6Subnet: _unused, ...noSubnet6 } = only;
    refuses(noSubnet6, 'options.ipv6Subnet', /dual stack needs all three/);
    refuses({ backend: 'vxlan', mtu: 1450 } as DataPlaneOptions, 'options.publicIp', /or, for an IPv6-only data plane, publicIpv6/);
  });

  it('are refused for the udp backend, which carries IPv4 only', () => {
    refuses({ ...only, backend: 'udp' }, 'options.publicIp', /flannel's udp backend carries IPv4 only/);
  });
});
