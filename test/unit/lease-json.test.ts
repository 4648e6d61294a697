import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseCidr } from '../../src/net/cidr';
import { configKey, makeSubnetKey, parseSubnetKey, subnetKeyPath, subnetsPrefix } from '../../src/store/keys';
import { decodeLeaseAttrs, encodeLeaseAttrs, leaseAttrsFor, vtepMacOf } from '../../src/store/lease-json';

const cidr = (s: string) => parseCidr(s, { strict: true })!;

describe('store keys', () => {
  it('makes flannel subnet keys under the default prefix', () => {
    assert.equal(makeSubnetKey(cidr('10.244.3.0/24')), '10.244.3.0-24');
    assert.equal(subnetKeyPath('/coreos.com/network', cidr('10.5.52.0/24')), '/coreos.com/network/subnets/10.5.52.0-24');
    assert.equal(configKey('/coreos.com/network'), '/coreos.com/network/config');
    assert.equal(subnetsPrefix('/my/net/'), '/my/net/subnets/');
  });

  it('parses bare keys, full paths and dual-stack keys as flannel ParseSubnetKey', () => {
    assert.deepEqual(parseSubnetKey('10.5.52.0-24'), { subnet: cidr('10.5.52.0/24') });
    assert.deepEqual(parseSubnetKey('/coreos.com/network/subnets/10.244.0.128-25'), { subnet: cidr('10.244.0.128/25') });
    assert.deepEqual(parseSubnetKey('10.5.52.0-24&fc00:0:0:3400::-64'), {
      subnet: cidr('10.5.52.0/24'),
      ipv6Subnet: { ip: 0xfc000000000034000000000000000000n, prefixLen: 64 },
    });
  });

  it('refuses keys flannel refuses and subnets with host bits', () => {
    for (const bad of ['10.5.52.0-32', '10.5.52.0', '10.5.52.0/24', '300.1.1.0-24', '10.5.52.0-24x', '10.5.52.7-24', '10.5.52.0-']) {
      assert.equal(parseSubnetKey(bad), undefined, bad);
    }
  });

  it('round-trips every aligned subnet through its key', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 31 }), (ip, len) => {
        // (0.0.0.0-0 alone names no lease: IPv4 /0 is the IPv6-only placeholder, refused without an IPv6 part)
        const subnet = { ip: len === 0 ? 0 : (ip & ((0xffffffff << (32 - len)) >>> 0)) >>> 0, prefixLen: len };
        assert.deepEqual(parseSubnetKey(makeSubnetKey(subnet))?.subnet, subnet);
      }),
    );
  });
});

describe('lease JSON', () => {
  it('encodes a vxlan lease byte for byte as flannel documents it', () => {
    const attrs = leaseAttrsFor('vxlan', '192.168.64.3', { vni: 1, vtepMac: 'C6:D2:32:6F:8F:44' });
    assert.equal(
      encodeLeaseAttrs(attrs),
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}',
    );
  });

  it('encodes a udp lease without BackendType or BackendData and a host-gw lease without BackendData', () => {
    assert.equal(encodeLeaseAttrs(leaseAttrsFor('udp', '198.18.0.1')), '{"PublicIP":"198.18.0.1","PublicIPv6":null}');
    assert.equal(
      encodeLeaseAttrs(leaseAttrsFor('host-gw', '198.18.0.2')),
      '{"PublicIP":"198.18.0.2","PublicIPv6":null,"BackendType":"host-gw"}',
    );
  });

  it('writes PublicIPv6 and BackendV6Data when present, escaping HTML characters as Go does', () => {
    const text = encodeLeaseAttrs({
      publicIp: '10.0.0.1',
      publicIpv6: 'fc00::1',
      backendType: 'vxlan',
      backendData: { VNI: 1, VtepMAC: 'aa:bb:cc:dd:ee:ff' },
      backendV6Data: { Note: '<&>' },
    });
    assert.equal(
      text,
      '{"PublicIP":"10.0.0.1","PublicIPv6":"fc00::1","BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"aa:bb:cc:dd:ee:ff"},"BackendV6Data":{"Note":"\\u003c\\u0026\\u003e"}}',
    );
  });

  it('decodes flannel JSON with any key case and re-encodes it to the same bytes', () => {
    const flannel =
      '{"PublicIP":"192.168.64.3","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"c6:d2:32:6f:8f:44"}}';
    assert.equal(encodeLeaseAttrs(decodeLeaseAttrs(flannel)), flannel);
    const odd = decodeLeaseAttrs('{"publicip":"10.1.1.1","backendtype":"host-gw","Unknown":3}');
    assert.deepEqual(odd, { publicIp: '10.1.1.1', publicIpv6: null, backendType: 'host-gw' });
    assert.equal(vtepMacOf(decodeLeaseAttrs('{"PublicIP":"1.2.3.4","BackendData":{"vtepmac":"0E:2A:0A:F4:01:00"}}')), '0e:2a:0a:f4:01:00');
  });

  it('rejects values that are not leases', () => {
    assert.throws(() => decodeLeaseAttrs('{"PublicIP":"fc00::1"}'), /PublicIP "fc00::1" is not an IPv4 address/);
    assert.throws(() => decodeLeaseAttrs('[1]'), /invalid lease JSON: not an object/);
    assert.throws(() => decodeLeaseAttrs('{'), /invalid lease JSON/);
    assert.throws(() => decodeLeaseAttrs('{"PublicIP":"1.2.3.4","BackendType":7}'), /BackendType must be a string/);
  });
});
