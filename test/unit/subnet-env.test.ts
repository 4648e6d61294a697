import assert from 'node:assert/strict';
import { formatCidr6, parseCidr6 } from '../../src/net/cidr6';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseCidr } from '../../src/net/cidr';
import { formatSubnetEnv, parseSubnetEnv, readSubnetEnv, removeSubnetEnv, writeSubnetEnv } from '../../src/host/subnet-env';
import { formatCidr } from '../../src/net/cidr';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const root = mkdtempSync(join(tmpdir(), 'weft-env-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('subnet.env', () => {
  it("has flannel's exact bytes: network, subnet .1, MTU, IPMASQ, in that order", () => {
    assert.equal(
      formatSubnetEnv({ network: cidr('10.244.0.0/16'), subnet: cidr('10.244.3.0/24'), mtu: 1450, ipMasq: false }),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
    assert.equal(
      formatSubnetEnv({
        network: cidr('10.5.0.0/24'),
        subnet: cidr('10.5.0.64/26'),
        mtu: 1472,
        ipMasq: true,
        ipv6Network: parseCidr6('fc00::/48')!,
        ipv6Subnet: parseCidr6('fc00:0:0:1::/64')!,
      }),
      'FLANNEL_NETWORK=10.5.0.0/24\nFLANNEL_SUBNET=10.5.0.65/26\nFLANNEL_IPV6_NETWORK=fc00::/48\nFLANNEL_IPV6_SUBNET=fc00:0:0:1::1/64\nFLANNEL_MTU=1472\nFLANNEL_IPMASQ=true\n',
    );
  });

  it("writes flannel-facts §4's dual-stack example byte for byte (IPv6 subnet + 1, Go's compressed form)", () => {
    assert.equal(
      formatSubnetEnv({
        network: cidr('10.244.0.0/16'),
        subnet: cidr('10.244.3.0/24'),
        ipv6Network: parseCidr6('2001:cafe:42::/56')!,
        ipv6Subnet: parseCidr6('2001:cafe:42::/64')!,
        mtu: 1450,
        ipMasq: false,
      }),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.3.1/24\nFLANNEL_IPV6_NETWORK=2001:cafe:42::/56\nFLANNEL_IPV6_SUBNET=2001:cafe:42::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n',
    );
  });

  it('leaves the IPv4 lines out on an IPv6-only node and parses the IPv6 ones back (masked)', () => {
    const text = formatSubnetEnv({
      ipv6Network: parseCidr6('fd00:10:244::/56')!,
      ipv6Subnet: parseCidr6('fd00:10:244:7::/64')!,
      mtu: 1450,
      ipMasq: true,
    });
    assert.equal(
      text,
      'FLANNEL_IPV6_NETWORK=fd00:10:244::/56\nFLANNEL_IPV6_SUBNET=fd00:10:244:7::1/64\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    const back = parseSubnetEnv(text);
    assert.equal(back.network, undefined);
    assert.equal(back.subnet, undefined);
    assert.equal(formatCidr6(back.ipv6Network!), 'fd00:10:244::/56');
    assert.equal(formatCidr6(back.ipv6Subnet!), 'fd00:10:244:7::/64');
  });

  it('is written atomically into a new 0755 directory as a 0644 file and read back', async () => {
    const path = join(root, 'run', 'flannel', 'subnet.env');
    const old = process.umask(0o077); // the modes must not depend on the umask
    try {
      await writeSubnetEnv(path, { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.7.0/24'), mtu: 1450, ipMasq: true });
      await writeSubnetEnv(path, { network: cidr('10.244.0.0/16'), subnet: cidr('10.244.8.0/24'), mtu: 1450, ipMasq: true });
    } finally {
      process.umask(old);
    }
    assert.equal(statSync(path).mode & 0o777, 0o644);
    assert.equal(statSync(join(root, 'run', 'flannel')).mode & 0o777, 0o755);
    assert.equal(
      readFileSync(path, 'utf8'),
      'FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.8.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=true\n',
    );
    assert.deepEqual(readdirSync(join(root, 'run', 'flannel')), ['subnet.env'], 'no temp file left behind');
    const back = await readSubnetEnv(path);
    assert.equal(back?.subnet && formatCidr(back.subnet), '10.244.8.0/24');
    assert.equal(back?.network && formatCidr(back.network), '10.244.0.0/16');
    assert.equal(back?.mtu, 1450);
    assert.equal(back?.ipMasq, true);
    await removeSubnetEnv(path);
    assert.equal(await readSubnetEnv(path), undefined);
    await removeSubnetEnv(path); // already gone: fine
  });

  it('reads files as flannel does: subnet masked, network lists split on commas, only literal true is true', () => {
    const v = parseSubnetEnv(
      'FLANNEL_NETWORK=10.1.0.0/16,10.2.0.0/16\nFLANNEL_SUBNET=10.5.72.1/24\nFLANNEL_MTU=1400\nFLANNEL_IPMASQ=TRUE\nOTHER=a=b\n',
    );
    assert.equal(v.subnet && formatCidr(v.subnet), '10.5.72.0/24');
    assert.equal(v.network && formatCidr(v.network), '10.1.0.0/16');
    assert.equal(v.ipMasq, false);
    assert.equal(v.raw.OTHER, 'a=b');
  });
});
