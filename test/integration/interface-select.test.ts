// weft run's interface choice with --iface-regex as flanneld's ipmatch makes it
// (flannel-facts §9): inside a namespace with links of both families, a regex
// is matched against IPv4 addresses (IPv4), IPv6 addresses (IPv6-only) or an
// IPv4 and an IPv6 address of the same link (dual stack), then against names.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExternalInterface, InterfaceChoice } from '../../src/agent/interface-select';
import { Netns, e2eUnavailable } from '../helpers/netns';

const skip = e2eUnavailable();

type Outcome = ExternalInterface | { error: string; option?: string };

describe('--iface-regex against both families (in a namespace)', { skip }, () => {
  let ns: Netns;
  before(() => {
    ns = new Netns('ifsel');
    const links: [string, string[]][] = [
      ['ula', ['198.18.1.1/24', '2001:db8:1::1/64']],
      ['ulb', ['198.18.2.1/24', '2001:db8:2::1/64', '2001:db8:2::9/64']],
      ['v6only0', ['2001:db8:3::1/64']],
    ];
    for (const [i, [name, addrs]] of links.entries()) {
      // veth pairs (no dummy module on every kernel), both ends up so the link is running.
      ns.ip('link', 'add', name, 'type', 'veth', 'peer', 'name', `peer${i}`);
      ns.ip('link', 'set', `peer${i}`, 'up');
      for (const a of addrs) ns.ip('addr', 'add', a, 'dev', name, ...(a.includes(':') ? ['nodad'] : []));
      ns.ip('link', 'set', name, 'up');
    }
  });
  after(async () => {
    await ns?.destroy();
  });

  /** selectInterface for each choice, run in the namespace (os.networkInterfaces() is per namespace). */
  function choose(choices: InterfaceChoice[]): Outcome[] {
    const mod = join(__dirname, '..', '..', 'src', 'agent', 'interface-select.js');
    const script = `const m = require(${JSON.stringify(mod)});
      console.log(JSON.stringify(${JSON.stringify(choices)}.map((c) => {
        try { return m.selectInterface(c); } catch (e) { return { error: e.message, option: e.option }; }
      })));`;
    return JSON.parse(ns.exec(process.execPath, '-e', script)) as Outcome[];
  }
  const picked = (o: Outcome) => ('error' in o ? o : { name: o.name, address: o.address, address6: o.address6, publicIpv6: o.publicIpv6 });

  test('IPv6-only: the regex is matched against IPv6 addresses, then names', () => {
    const [byAddr, byName, publicKept] = choose([
      { ipv4: false, ipv6: true, ifaceRegex: ['^2001:db8:2::9$'] },
      { ipv4: false, ipv6: true, ifaceRegex: ['^v6only'] },
      { ipv4: false, ipv6: true, ifaceRegex: ['^2001:db8:1::'], publicIpv6: '2001:db8:ffff::1' },
    ]);
    assert.deepEqual(picked(byAddr!), { name: 'ulb', address: '0.0.0.0', address6: '2001:db8:2::9', publicIpv6: '2001:db8:2::9' });
    assert.deepEqual(picked(byName!), { name: 'v6only0', address: '0.0.0.0', address6: '2001:db8:3::1', publicIpv6: '2001:db8:3::1' });
    assert.deepEqual(picked(publicKept!), { name: 'ula', address: '0.0.0.0', address6: '2001:db8:1::1', publicIpv6: '2001:db8:ffff::1' });
  });

  test('dual stack: one link must match with an IPv4 and an IPv6 address, and both are used', () => {
    const [both, v4Only, byName] = choose([
      { ipv6: true, ifaceRegex: ['^(198\\.18\\.2\\.|2001:db8:2::9$)'] },
      { ipv6: true, ifaceRegex: ['^198\\.18\\.1\\.'] },
      { ipv6: true, ifaceRegex: ['^ula$'] },
    ]);
    assert.deepEqual(picked(both!), { name: 'ulb', address: '198.18.2.1', address6: '2001:db8:2::9', publicIpv6: '2001:db8:2::9' });
    // ula's IPv4 address matches but none of its IPv6 ones, and no name does: nothing is chosen.
    assert.equal('error' in v4Only! && v4Only.option, 'iface-regex');
    assert.deepEqual(picked(byName!), { name: 'ula', address: '198.18.1.1', address6: '2001:db8:1::1', publicIpv6: '2001:db8:1::1' });
  });

  test('IPv4 only: IPv6 addresses play no part; no match is an error naming the flag', () => {
    const [v4, v6AddrOnly, none6] = choose([
      { ifaceRegex: ['^198\\.18\\.2\\.'] },
      { ifaceRegex: ['^2001:db8:2::9$'] },
      { ipv4: false, ipv6: true, ifaceRegex: ['^192\\.0\\.2\\.', '^nosuch'] },
    ]);
    assert.deepEqual(picked(v4!), { name: 'ulb', address: '198.18.2.1', address6: undefined, publicIpv6: undefined });
    for (const o of [v6AddrOnly!, none6!]) {
      assert.ok('error' in o, JSON.stringify(o));
      assert.equal(o.option, 'iface-regex');
      assert.match(o.error, /no usable interface found for --iface-regex/);
    }
  });
});
