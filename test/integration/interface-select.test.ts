// weft run's interface choice with --iface-regex and --iface-can-reach as
// flanneld's ipmatch makes it (flannel-facts §9): inside a namespace with
// links of both families, a regex is matched against IPv4 addresses (IPv4),
// IPv6 addresses (IPv6-only) or an IPv4 and an IPv6 address of the same link
// (dual stack), then against names; --iface-can-reach takes the link and
// source address of the kernel's route to the IP.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ExternalInterface, InterfaceChoice } from '../../src/agent/interface-select';
import { EmbeddedStore } from '../../src/store/embedded-store';
import { addV6Underlay } from '../helpers/dual-stack';
import { Netns, e2eUnavailable } from '../helpers/netns';
import { WeftAgent } from '../helpers/weft-agent';
import { Cluster } from '../helpers/weft-cluster';

const skip = e2eUnavailable();

type Outcome = ExternalInterface | { error: string; option?: string };

describe('--iface-regex and --iface-can-reach, both families (in a namespace)', { skip }, () => {
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
    // As SLAAC with privacy addresses leaves a link: an assigned address, then newer autoconfigured
    // (dynamic) and deprecated ones, which the kernel lists first.
    ns.ip('link', 'add', 'slaac0', 'type', 'veth', 'peer', 'name', 'peer9');
    ns.ip('link', 'set', 'peer9', 'up');
    ns.ip('-6', 'addr', 'add', '2001:db8:6::1/64', 'dev', 'slaac0', 'nodad');
    ns.ip('-6', 'addr', 'add', '2001:db8:6::2/64', 'dev', 'slaac0', 'nodad', 'valid_lft', '3600', 'preferred_lft', '3600');
    ns.ip('-6', 'addr', 'add', '2001:db8:6::3/64', 'dev', 'slaac0', 'nodad', 'valid_lft', '3600', 'preferred_lft', '0');
    ns.ip('link', 'set', 'slaac0', 'up');
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

  test("an interface's IPv6 address as flanneld ranks them: assigned before autoconfigured, deprecated never", () => {
    const listed = (
      JSON.parse(ns.ip('-j', '-6', 'addr', 'show', 'dev', 'slaac0')) as { addr_info: { local: string }[] }[]
    )[0]!.addr_info.map((a) => a.local);
    assert.equal(listed[0], '2001:db8:6::3', 'the kernel lists the newest address first (the case this covers)');
    const [byName, deprecated] = choose([
      { ipv4: false, ipv6: true, iface: ['slaac0'] },
      { ipv4: false, ipv6: true, ifaceRegex: ['^2001:db8:6::3$'] },
    ]);
    assert.deepEqual(picked(byName!), { name: 'slaac0', address: '0.0.0.0', address6: '2001:db8:6::1', publicIpv6: '2001:db8:6::1' });
    assert.ok('error' in deprecated! && deprecated.option === 'iface-regex', JSON.stringify(deprecated));
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

  test('--iface-can-reach: the link and source address of the route to it, in each family; no route is an error naming the flag', () => {
    const [v4, dual, dual6, only6, regexFirst, none, notIp] = choose([
      { ifaceCanReach: '198.18.2.77' },
      { ipv6: true, ifaceCanReach: '198.18.1.77' },
      { ipv6: true, ifaceCanReach: '2001:db8:2::77' },
      { ipv4: false, ipv6: true, ifaceCanReach: '2001:db8:3::77' },
      { ifaceRegex: ['^198\\.18\\.1\\.'], ifaceCanReach: '198.18.2.77' },
      { ifaceCanReach: '192.0.2.1' },
      { ifaceCanReach: 'ula' },
    ]);
    assert.deepEqual(picked(v4!), { name: 'ulb', address: '198.18.2.1', address6: undefined, publicIpv6: undefined });
    assert.deepEqual(picked(dual!), { name: 'ula', address: '198.18.1.1', address6: '2001:db8:1::1', publicIpv6: '2001:db8:1::1' });
    // ulb has two IPv6 addresses on one prefix: either may be the route's source (the kernel's choice).
    const d6 = picked(dual6!) as { name: string; address: string; address6: string };
    assert.deepEqual([d6.name, d6.address], ['ulb', '198.18.2.1']);
    assert.match(d6.address6, /^2001:db8:2::[19]$/);
    assert.deepEqual(picked(only6!), { name: 'v6only0', address: '0.0.0.0', address6: '2001:db8:3::1', publicIpv6: '2001:db8:3::1' });
    assert.equal((regexFirst as ExternalInterface).name, 'ula', '--iface-regex comes first, as in flanneld');
    for (const [o, re] of [
      [none!, /--iface-can-reach 192\.0\.2\.1: this host has no route to it/],
      [notIp!, /--iface-can-reach must be an IP address/],
    ] as const) {
      assert.ok('error' in o, JSON.stringify(o));
      assert.equal(o.option, 'iface-can-reach');
      assert.match(o.error, re);
    }
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

describe('weft run --iface-can-reach', { skip }, () => {
  let c: Cluster | undefined;
  after(async () => {
    await c?.destroy();
  });

  test('takes the underlay of the route to a peer and publishes its addresses in the lease (dual stack)', async () => {
    c = new Cluster(
      'icr',
      2,
      '{"Network":"10.244.0.0/16","EnableIPv6":true,"IPv6Network":"fd00:10:244::/56","Backend":{"Type":"host-gw"}}',
    );
    const v6 = addV6Underlay(c);
    const a = c.nodes[0]!; // the route to node 1's IPv6 underlay address goes out of ul
    const dataDir = join(c.dir, 'data');
    a.agent = new WeftAgent(a.ns, ['run', '--iface-can-reach', v6[1]!, '--subnet-file', a.subnetFile, ...c.embeddedArgs(dataDir)]);
    await a.agent.waitReady();
    assert.match(a.agent.stderr, new RegExp(`msg="using interface" iface=ul address=${a.ip.replace(/\./g, '\\.')} `));
    assert.match(a.agent.stderr, new RegExp(`msg="using interface \\(IPv6\\)" iface=ul address6=${v6[0]} `));
    const store = new EmbeddedStore({ dataDir });
    const { leases } = await store.list();
    await store.close();
    assert.deepEqual(
      leases.map((l) => [l.attrs.publicIp, l.attrs.publicIpv6]),
      [[a.ip, v6[0]]],
    );
  });
});
