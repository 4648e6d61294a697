import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwardRules, masqRules, ruleText } from '../../src/host/iptables';
import { parseCidr } from '../../src/net/cidr';

const cidr = (s: string) => parseCidr(s, { strict: true })!;

describe('iptables rule sets', () => {
  it("are flannel's masquerade rules, in order, with --random-fully when supported", () => {
    assert.deepEqual(masqRules(cidr('10.244.0.0/16'), cidr('10.244.3.0/24'), { randomFully: true }).map(ruleText), [
      '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
      '-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.3.0/24 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.3.0/24 -m comment --comment "flanneld masq" -j RETURN',
      '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
      '-A FLANNEL-POSTRTG ! -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
    ]);
    assert.ok(
      masqRules(cidr('10.244.0.0/16'), cidr('10.244.3.0/24'), { randomFully: false }).every((r) => !r.spec.includes('--random-fully')),
    );
  });

  it("are flannel's forward rules", () => {
    assert.deepEqual(forwardRules(cidr('10.244.0.0/16')).map(ruleText), [
      '-A FORWARD -m comment --comment "flanneld forward" -j FLANNEL-FWD',
      '-A FLANNEL-FWD -s 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
      '-A FLANNEL-FWD -d 10.244.0.0/16 -m comment --comment "flanneld forward" -j ACCEPT',
    ]);
  });
});
