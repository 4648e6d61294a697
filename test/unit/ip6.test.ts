import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cidr6Contains, cidr6Overlaps, cidr6Size, formatCidr6, parseCidr6 } from '../../src/net/cidr6';
import { formatIPv6, ipv6Bytes, ipv6FromBytes, parseIPv6 } from '../../src/net/ip6';

// WHATWG URL serialises IPv6 hosts by RFC 5952 too: an independent oracle.
const urlForm = (text: string) => new URL(`http://[${text}]/`).hostname.slice(1, -1);

describe('IPv6 addresses', () => {
  it('formats as Go and flannel do (RFC 5952)', () => {
    const cases: Array<[string, string]> = [
      ['fc00:0000:0000:3400:0000:0000:0000:0000', 'fc00:0:0:3400::'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['FD00:10:244:2::', 'fd00:10:244:2::'],
      ['::ffff:10.1.2.3', '::ffff:a01:203'],
    ];
    for (const [input, want] of cases) assert.equal(formatIPv6(parseIPv6(input)!), want, input);
  });

  it('refuses what is not an address', () => {
    for (const bad of [
      '',
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '12345::',
      'g::',
      'fe80::1%eth0',
      '10.0.0.1',
      '::1.2.3',
    ]) {
      assert.equal(parseIPv6(bad), undefined, bad);
    }
  });

  it('round-trips any address through text and bytes, matching the WHATWG serialiser', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (v) => {
        const text = formatIPv6(v);
        assert.equal(parseIPv6(text), v);
        assert.equal(ipv6FromBytes(ipv6Bytes(v)), v);
        if (!text.startsWith('::ffff:')) assert.equal(text, urlForm(text));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv6 prefixes', () => {
  it('parses, masks and contains', () => {
    const net = parseCidr6('fd00:10:244::/56')!;
    const lease = parseCidr6('fd00:10:244:2::/64', { strict: true })!;
    assert.equal(formatCidr6(net), 'fd00:10:244::/56');
    assert.equal(formatCidr6(parseCidr6('fd00:10:244:2::7/64')!), 'fd00:10:244:2::/64');
    assert.equal(parseCidr6('fd00:10:244:2::7/64', { strict: true }), undefined);
    assert.equal(parseCidr6('fd00::/129'), undefined);
    assert.equal(parseCidr6('fd00::'), undefined);
    assert.ok(cidr6Contains(net, lease));
    assert.ok(!cidr6Contains(lease, net));
    assert.ok(cidr6Overlaps(lease, net));
    assert.ok(!cidr6Overlaps(lease, parseCidr6('fd00:10:245::/64')!));
    assert.equal(cidr6Size(lease), 1n << 64n);
  });
});
