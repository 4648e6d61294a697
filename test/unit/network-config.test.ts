import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetworkConfig, type NetworkConfig } from '../../src/config/network-config';
import { ErrorCode, WeftError } from '../../src/errors';
import { formatCidr } from '../../src/net/cidr';
import { formatIPv4 } from '../../src/net/ip';
import { formatCidr6 } from '../../src/net/cidr6';
import { formatIPv6 } from '../../src/net/ip6';

/** The resolved config in a comparable, readable shape. */
function summary(c: NetworkConfig): Record<string, unknown> {
  return {
    network: formatCidr(c.network),
    subnetLen: c.subnetLen,
    subnetMin: formatIPv4(c.subnetMin),
    subnetMax: formatIPv4(c.subnetMax),
    backend: c.backend,
  };
}

const valid: Array<[string, string, Record<string, unknown>]> = [
  [
    'a /16 network without Backend gets SubnetLen 24, the full range and the udp backend on port 8285',
    '{"Network":"10.244.0.0/16"}',
    { network: '10.244.0.0/16', subnetLen: 24, subnetMin: '10.244.1.0', subnetMax: '10.244.255.0', backend: { type: 'udp', port: 8285 } },
  ],
  [
    'a /24 network gets SubnetLen 26 (four subnets) and the range .64 to .192',
    '{"Network":"10.5.0.0/24","Backend":{"Type":"host-gw"}}',
    { network: '10.5.0.0/24', subnetLen: 26, subnetMin: '10.5.0.64', subnetMax: '10.5.0.192', backend: { type: 'host-gw' } },
  ],
  [
    'host bits of Network are masked off as Go net.ParseCIDR does',
    '{"Network":"10.244.3.7/16","Backend":{"Type":"vxlan"}}',
    {
      network: '10.244.0.0/16',
      subnetLen: 24,
      subnetMin: '10.244.1.0',
      subnetMax: '10.244.255.0',
      backend: { type: 'vxlan', vni: 1, port: 0, effectivePort: 8472, mtu: 0, gbp: false, learning: false, directRouting: false },
    },
  ],
  [
    'keys match case-insensitively at both levels, the type is lower-cased and unknown keys are ignored',
    '{"network":"10.1.0.0/16","SUBNETLEN":20,"whatever":[1],"backend":{"type":"VXLAN","vni":42,"PORT":4789,"mtu":9000,"gbp":true,"Learning":true,"directrouting":true,"Extra":1}}',
    {
      network: '10.1.0.0/16',
      subnetLen: 20,
      subnetMin: '10.1.16.0',
      subnetMax: '10.1.240.0',
      backend: { type: 'vxlan', vni: 42, port: 4789, effectivePort: 4789, mtu: 9000, gbp: true, learning: true, directRouting: true },
    },
  ],
  [
    'an explicit SubnetMin, SubnetMax and udp Port are kept',
    '{"Network":"10.244.0.0/16","SubnetMin":"10.244.10.0","SubnetMax":"10.244.20.0","Backend":{"Type":"udp","Port":9000}}',
    { network: '10.244.0.0/16', subnetLen: 24, subnetMin: '10.244.10.0', subnetMax: '10.244.20.0', backend: { type: 'udp', port: 9000 } },
  ],
  [
    'SubnetMin 0.0.0.0 and null values mean the defaults',
    '{"Network":"10.244.0.0/16","SubnetMin":"0.0.0.0","SubnetLen":null,"EnableIPv4":null}',
    { network: '10.244.0.0/16', subnetLen: 24, subnetMin: '10.244.1.0', subnetMax: '10.244.255.0', backend: { type: 'udp', port: 8285 } },
  ],
  [
    'a /28 network is the smallest accepted and gets SubnetLen 30',
    '{"Network":"192.168.0.0/28"}',
    { network: '192.168.0.0/28', subnetLen: 30, subnetMin: '192.168.0.4', subnetMax: '192.168.0.12', backend: { type: 'udp', port: 8285 } },
  ],
  [
    'a /22 network still gets SubnetLen 24 and a /23 gets 25',
    '{"Network":"10.0.0.0/23"}',
    { network: '10.0.0.0/23', subnetLen: 25, subnetMin: '10.0.0.128', subnetMax: '10.0.1.128', backend: { type: 'udp', port: 8285 } },
  ],
  [
    'the later of two keys folding to one field wins, as in Go',
    '{"Network":"10.1.0.0/16","network":"10.2.0.0/16"}',
    { network: '10.2.0.0/16', subnetLen: 24, subnetMin: '10.2.1.0', subnetMax: '10.2.255.0', backend: { type: 'udp', port: 8285 } },
  ],
];

const invalid: Array<[string, string, string, string | undefined]> = [
  ['a missing Network', '{}', 'please define a correct Network parameter in the flannel config', 'Network'],
  ['SubnetLen 31', '{"Network":"10.0.0.0/8","SubnetLen":31}', 'SubnetLen must be less than /31', 'SubnetLen'],
  [
    'SubnetLen allowing fewer than four subnets',
    '{"Network":"10.0.0.0/16","SubnetLen":17}',
    'network must be able to accommodate at least four subnets',
    'SubnetLen',
  ],
  ['a /29 network without SubnetLen', '{"Network":"10.0.0.0/29"}', 'network is too small. Minimum useful network prefix is /28', 'Network'],
  [
    'SubnetMin outside Network',
    '{"Network":"10.244.0.0/16","SubnetMin":"10.245.0.0"}',
    'SubnetMin is not in the range of the Network',
    'SubnetMin',
  ],
  [
    'SubnetMax outside Network',
    '{"Network":"10.244.0.0/16","SubnetMax":"10.243.0.0"}',
    'SubnetMax is not in the range of the Network',
    'SubnetMax',
  ],
  [
    'SubnetMin off the SubnetLen boundary',
    '{"Network":"10.244.0.0/16","SubnetMin":"10.244.1.5"}',
    'SubnetMin is not on a SubnetLen boundary: 10.244.1.5',
    'SubnetMin',
  ],
  [
    'SubnetMax off the SubnetLen boundary',
    '{"Network":"10.244.0.0/16","SubnetMax":"10.244.9.128"}',
    'SubnetMax is not on a SubnetLen boundary: 10.244.9.128',
    'SubnetMax',
  ],
  ['a SubnetMin that is no IP address', '{"Network":"10.244.0.0/16","SubnetMin":"ten"}', 'invalid IP address format', 'SubnetMin'],
  ['an IPv6 Network', '{"Network":"fc00::/48"}', 'invalid IPv4 CIDR format', 'Network'],
  ['a Network that is no CIDR', '{"Network":"10.244.0.0"}', 'invalid CIDR address: 10.244.0.0', 'Network'],
  [
    'SubnetLen given as a string',
    '{"Network":"10.0.0.0/16","SubnetLen":"24"}',
    'json: cannot unmarshal string into Go struct field Config.SubnetLen of type int',
    'SubnetLen',
  ],
  [
    'EnableIPv4 given as a string',
    '{"Network":"10.0.0.0/16","EnableIPv4":"true"}',
    'json: cannot unmarshal string into Go struct field Config.EnableIPv4 of type bool',
    'EnableIPv4',
  ],
  ['a Backend without Type', '{"Network":"10.0.0.0/16","Backend":{"VNI":1}}', 'unknown backend type: ', 'Backend.Type'],
  ['a Backend of null', '{"Network":"10.0.0.0/16","Backend":null}', 'unknown backend type: ', 'Backend.Type'],
  [
    'a Backend that is a string',
    '{"Network":"10.0.0.0/16","Backend":"vxlan"}',
    'error decoding Backend property of config: json: cannot unmarshal string into Go value of type struct { Type string }',
    'Backend',
  ],
  [
    'an unknown backend type',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"Carrier-Pigeon"}}',
    'unknown backend type: carrier-pigeon',
    'Backend.Type',
  ],
  [
    'a flannel backend weft does not implement',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"wireguard"}}',
    'backend type "wireguard" is a flannel backend that weft does not implement (weft supports udp, vxlan, host-gw)',
    'Backend.Type',
  ],
  [
    'a VNI given as a string',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","VNI":"1"}}',
    'error decoding VXLAN backend config: json: cannot unmarshal string into Go struct field .VNI of type int',
    'Backend.VNI',
  ],
  [
    'a VNI beyond 24 bits',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","VNI":16777216}}',
    'Backend.VNI must be between 0 and 16777215, got 16777216',
    'Backend.VNI',
  ],
  [
    'a vxlan Port beyond 65535',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","Port":70000}}',
    'Backend.Port must be between 0 and 65535, got 70000',
    'Backend.Port',
  ],
  [
    'a udp Port of 0',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"udp","Port":0}}',
    'Backend.Port must be between 1 and 65535, got 0',
    'Backend.Port',
  ],
  [
    'a fractional udp Port',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"udp","Port":8285.5}}',
    'error decoding UDP backend config: json: cannot unmarshal number 8285.5 into Go struct field .Port of type int',
    'Backend.Port',
  ],
  [
    'GBP given as a number',
    '{"Network":"10.0.0.0/16","Backend":{"Type":"vxlan","GBP":1}}',
    'error decoding VXLAN backend config: json: cannot unmarshal number into Go struct field .GBP of type bool',
    'Backend.GBP',
  ],
  ['a negative SubnetLen', '{"Network":"10.0.0.0/16","SubnetLen":-1}', 'SubnetLen must not be negative, got -1', 'SubnetLen'],
  [
    'an empty IPv6Network',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"Backend":{"Type":"vxlan"}}',
    'please define a correct IPv6Network parameter in the flannel config',
    'IPv6Network',
  ],
  [
    'IPv6SubnetLen 127',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetLen":127,"Backend":{"Type":"vxlan"}}',
    'SubnetLen must be less than /127',
    'IPv6SubnetLen',
  ],
  [
    'an IPv6SubnetLen leaving fewer than four subnets',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetLen":57,"Backend":{"Type":"vxlan"}}',
    'network must be able to accommodate at least four subnets',
    'IPv6SubnetLen',
  ],
  [
    'an IPv6Network smaller than /124',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/125","Backend":{"Type":"vxlan"}}',
    'IPv6Network is too small. Minimum useful network prefix is /124',
    'IPv6Network',
  ],
  [
    'an IPv6SubnetMin outside the IPv6Network',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMin":"fd01::","Backend":{"Type":"vxlan"}}',
    'IPv6SubnetMin is not in the range of the IPv6Network',
    'IPv6SubnetMin',
  ],
  [
    'an IPv6SubnetMax outside the IPv6Network',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMax":"fd01::","Backend":{"Type":"vxlan"}}',
    'IPv6SubnetMax is not in the range of the IPv6Network',
    'IPv6SubnetMax',
  ],
  [
    'a misaligned IPv6SubnetMin',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMin":"fd00:0:0:1::1","Backend":{"Type":"vxlan"}}',
    'IPv6SubnetMin is not on a SubnetLen boundary: fd00:0:0:1::1',
    'IPv6SubnetMin',
  ],
  [
    'a misaligned IPv6SubnetMax',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMax":"fd00:0:0:2:8000::","Backend":{"Type":"vxlan"}}',
    'IPv6SubnetMax is not on a SubnetLen boundary: fd00:0:0:2:8000::',
    'IPv6SubnetMax',
  ],
  [
    'an IPv6SubnetMin that is not an address',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetMin":"fd00::zz","Backend":{"Type":"vxlan"}}',
    'Invalid IP address format',
    'IPv6SubnetMin',
  ],
  [
    'an IPv6Network that is not a CIDR',
    '{"EnableIPv6":true,"IPv6Network":"fd00::","Backend":{"Type":"vxlan"}}',
    'invalid CIDR address: fd00::',
    'IPv6Network',
  ],
  [
    'an IPv4 CIDR as IPv6Network',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"10.1.0.0/16","Backend":{"Type":"vxlan"}}',
    'invalid IPv6 CIDR format',
    'IPv6Network',
  ],
  [
    'EnableIPv4 false without EnableIPv6',
    '{"EnableIPv4":false,"Network":"10.0.0.0/16"}',
    'none defined stack: EnableIPv4 and EnableIPv6 are both false',
    'EnableIPv4',
  ],
  [
    'IPv6 with the IPv4-only udp backend',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56"}',
    'the udp backend carries IPv4 only: use vxlan or host-gw with EnableIPv6',
    'Backend.Type',
  ],
  [
    'IPv6-only without IPv6Network',
    '{"EnableIPv4":false,"EnableIPv6":true,"Backend":{"Type":"vxlan"}}',
    'please define a correct IPv6Network parameter in the flannel config',
    'IPv6Network',
  ],
  [
    'IPv6SubnetLen given as a string',
    '{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::/56","IPv6SubnetLen":"64","Backend":{"Type":"vxlan"}}',
    'json: cannot unmarshal string into Go struct field Config.IPv6SubnetLen of type int',
    'IPv6SubnetLen',
  ],
  ['a top-level array', '[]', 'json: cannot unmarshal array into Go value of type subnet.Config', undefined],
];

describe('network config', () => {
  for (const [name, json, expected] of valid) {
    it(`accepts ${name}`, () => {
      assert.deepEqual(summary(parseNetworkConfig(json)), expected);
    });
  }

  for (const [name, json, message, option] of invalid) {
    it(`rejects ${name} with the exact message`, () => {
      assert.throws(
        () => parseNetworkConfig(json),
        (err: unknown) => {
          assert.ok(err instanceof WeftError);
          assert.equal(err.code, ErrorCode.INVALID_CONFIG);
          assert.equal(err.message, message);
          assert.equal(err.option, option);
          return true;
        },
      );
    });
  }

  it('rejects text that is not JSON with a message saying so', () => {
    assert.throws(() => parseNetworkConfig('{"Network":'), /network config is not valid JSON/);
  });

  it('returns a frozen config whose backend cannot be changed', () => {
    const c = parseNetworkConfig('{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}');
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.backend) && Object.isFrozen(c.network));
    assert.equal(c.enableIPv4, true);
    assert.equal(c.enableNFTables, false);
  });

  it('resolves a dual-stack config with flannel defaults: IPv6SubnetLen 64, second to last /64 of a /56', () => {
    const c = parseNetworkConfig(
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}',
    );
    assert.equal(c.enableIPv4, true);
    assert.equal(c.enableIPv6, true);
    assert.equal(formatCidr(c.network), '10.244.0.0/16');
    assert.equal(formatCidr6(c.ipv6!.network), 'fd00:10:244::/56');
    assert.equal(c.ipv6!.subnetLen, 64);
    assert.equal(formatIPv6(c.ipv6!.subnetMin), 'fd00:10:244:1::');
    assert.equal(formatIPv6(c.ipv6!.subnetMax), 'fd00:10:244:ff::');
  });

  it('derives IPv6SubnetLen as prefix + 2 for a network longer than /62, masks host bits and keeps explicit bounds', () => {
    const c = parseNetworkConfig('{"Network":"10.0.0.0/16","EnableIPv6":true,"IPv6Network":"fd00::7/120","Backend":{"Type":"host-gw"}}');
    assert.equal(formatCidr6(c.ipv6!.network), 'fd00::/120');
    assert.equal(c.ipv6!.subnetLen, 122);
    assert.equal(formatIPv6(c.ipv6!.subnetMin), 'fd00::40');
    assert.equal(formatIPv6(c.ipv6!.subnetMax), 'fd00::c0');
    const e = parseNetworkConfig(
      '{"Network":"10.0.0.0/16","enableipv6":true,"ipv6network":"fd00::/48","IPv6SubnetLen":60,"IPv6SubnetMin":"fd00:0:0:20::","IPv6SubnetMax":"fd00:0:0:40::","IPv6SubnetMax2":1,"Backend":{"Type":"vxlan"}}',
    );
    assert.deepEqual(
      [e.ipv6!.subnetLen, formatIPv6(e.ipv6!.subnetMin), formatIPv6(e.ipv6!.subnetMax)],
      [60, 'fd00:0:0:20::', 'fd00:0:0:40::'],
    );
  });

  it('accepts an IPv6-only config (EnableIPv4 false): no IPv4 network is needed and its fields are the zero values', () => {
    const c = parseNetworkConfig('{"EnableIPv4":false,"EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"vxlan"}}');
    assert.equal(c.enableIPv4, false);
    assert.equal(c.enableIPv6, true);
    assert.deepEqual([c.network.ip, c.network.prefixLen, c.subnetLen, c.subnetMin, c.subnetMax], [0, 0, 0, 0, 0]);
    assert.equal(formatCidr6(c.ipv6!.network), 'fd00:10:244::/56');
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.ipv6));
  });

  it('leaves ipv6 absent without EnableIPv6 even when IPv6 keys are given (flannel ignores them)', () => {
    const c = parseNetworkConfig('{"Network":"10.0.0.0/16","IPv6Network":"fd00::/56","IPv6SubnetLen":200}');
    assert.equal(c.enableIPv6, false);
    assert.equal(c.ipv6, undefined);
  });

  it('does not treat SubnetMin greater than SubnetMax as an error, as flannel does not', () => {
    const c = parseNetworkConfig('{"Network":"10.244.0.0/16","SubnetMin":"10.244.9.0","SubnetMax":"10.244.3.0"}');
    assert.equal(formatIPv4(c.subnetMin), '10.244.9.0');
    assert.equal(formatIPv4(c.subnetMax), '10.244.3.0');
  });
});
