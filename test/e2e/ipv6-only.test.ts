// IPv6-only VXLAN ("EnableIPv4": false): a weft data plane with no IPv4 part
// (no publicIp, network or subnet) next to a kernel IPv6-only flannel node,
// whose only device is flannel-v6.1 (flannel-facts §6). The underlay has no
// IPv4 address at all; pods are fd00:10:244:<n>::5 on lo.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';
import { WeftHost, kernelVxlanNode, kernelVxlanPeer, ping, transfer, underlay6 } from '../helpers/overlay';
import { PingStream } from '../helpers/ping-stream';
import type { DataPlaneOptions, DataPlaneStats } from '../../src/index';

const skip = e2eUnavailable();
const kMB = 1024 * 1024;
const kTransferBytes = 16 * kMB;
const kNet6 = 'fd00:10:244::/48';
const pod6 = (n: number): string => `fd00:10:244:${n}::5`;
const lease6 = (n: number): string => `fd00:10:244:${n}::/64`;

/** rx errors of a kernel link (`ip -s link`). */
function rxErrors(ns: Netns, dev: string): number {
  const [link] = JSON.parse(ns.ip('-s', '-j', 'link', 'show', dev)) as { stats64: { rx: { errors: number } } }[];
  return link!.stats64.rx.errors;
}

const dropsOf = (s: DataPlaneStats): Record<string, number> => s.drops as Record<string, number>;

describe('weft IPv6-only ↔ kernel IPv6-only flannel (flannel-v6.1 only)', { skip }, () => {
  let a: Netns | undefined;
  let b: Netns | undefined;
  let host: WeftHost | undefined;
  let ul6: string[] = [];
  let dir = '';
  const kernelMac6 = '0e:2a:0a:f4:02:06';
  const options = (): DataPlaneOptions => ({ backend: 'vxlan', publicIpv6: ul6[0]!, ipv6Network: kNet6, ipv6Subnet: lease6(1), queues: 2 });

  before(async () => {
    dir = mkdtempSync('/tmp/weft-v6only-');
    a = new Netns('v6oa');
    b = new Netns('v6ob');
    underlay([a, b]);
    ul6 = underlay6([a, b]);
    for (const [i, h] of [a, b].entries()) {
      // No IPv4 on the underlay: nothing could bind or send IPv4 there.
      h.ip('-4', 'addr', 'flush', 'dev', 'ul');
      h.exec('sysctl', '-qw', 'net.ipv6.conf.lo.disable_ipv6=0');
      h.ip('-6', 'addr', 'add', `${pod6(i + 1)}/128`, 'dev', 'lo', 'nodad');
    }
    // A: no publicIp/network/subnet, no device, no mtu: flannel-v6.1, MTU from the IPv6 underlay.
    host = await WeftHost.start(a, options(), { handoff: join(dir, 'handoff.sock') });
    // One device, one MAC: IPv6-only, vtepMac is the IPv6 frames' MAC.
    assert.equal(host.vtepMac, host.vtepMacV6);
    kernelVxlanNode(b, { publicIp: ul6[1]!, subnet: lease6(2), mac: kernelMac6 });
    kernelVxlanPeer(b, { subnet: lease6(1), publicIp: ul6[0]!, mac: host.vtepMacV6! }, 'flannel-v6.1');
    await host.set({ subnet: lease6(2), publicIp: ul6[1]!, vtepMac: kernelMac6 });
  });

  after(async () => {
    await host?.close().catch(() => undefined);
    await a?.destroy();
    await b?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the device is flannel-v6.1 with MTU underlay − 70, its IPv6 address and route, and nothing IPv4', async () => {
    const [link] = JSON.parse(a!.ip('-j', 'link', 'show', 'flannel-v6.1')) as { mtu: number }[];
    assert.equal(link!.mtu, 1430);
    assert.equal(a!.exec('cat', '/proc/sys/net/ipv6/conf/flannel-v6.1/mtu').trim(), '1430');
    assert.equal(a!.ip('-4', 'addr', 'show', 'dev', 'flannel-v6.1').trim(), '');
    assert.equal(a!.ip('-4', 'route', 'show', 'dev', 'flannel-v6.1').trim(), '');
    assert.match(a!.ip('-6', 'addr', 'show', 'dev', 'flannel-v6.1'), /inet6 fd00:10:244:1::\/128/);
    // From /proc, not `ip -6 route show`: iproute2's print_route trips ASan's strncpy-overlap check under test/asan.sh.
    assert.match(a!.exec('cat', '/proc/net/ipv6_route'), /^fd000010024400000000000000000000 30 .* flannel-v6\.1$/m);
    // No IPv4 socket: only the IPv6 ones (2 queues: 2 receivers on 8472, 2 senders).
    assert.equal(a!.exec('ss', '-H', '-u', '-a', '-n', '-4').trim(), '');
    const v6 = a!.exec('ss', '-H', '-u', '-a', '-n', '-6').trim().split('\n');
    assert.equal(v6.filter((l) => l.includes(`[${ul6[0]}]:8472`)).length, 2, v6.join('\n'));
    assert.equal(v6.length, 4, v6.join('\n'));
    const stats = await host!.stats();
    assert.equal(stats.entries.length, 1);
  });

  test('pods ping6 each other both ways, also full-size (1430) unfragmented', () => {
    assert.equal(ping(a!, pod6(2), { src: pod6(1) }), 3, 'ping6 A→B');
    assert.equal(ping(b!, pod6(1), { src: pod6(2) }), 3, 'ping6 B→A');
    for (const [from, src, dst] of [
      [a!, pod6(1), pod6(2)],
      [b!, pod6(2), pod6(1)],
    ] as const) {
      const out = from.exec('ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(1430 - 48), '-I', src, dst);
      assert.match(out, / 2 received/);
    }
  });

  test(`${kTransferBytes / kMB} MB TCP transfers arrive intact both ways (SHA-256)`, async () => {
    const ab = await transfer(a!, b!, pod6(2), kTransferBytes, { fromIp: pod6(1) });
    assert.equal(ab.serverBytes, kTransferBytes, 'A→B bytes');
    assert.equal(ab.serverSha256, ab.sha256, 'A→B content differs');
    const ba = await transfer(b!, a!, pod6(1), kTransferBytes, { fromIp: pod6(2) });
    assert.equal(ba.serverBytes, kTransferBytes, 'B→A bytes');
    assert.equal(ba.serverSha256, ba.sha256, 'B→A content differs');
  });

  test('inner IPv4 routed into the device is dropped as noRoute, without an ICMP error', async () => {
    a!.ip('addr', 'add', '10.99.1.5/32', 'dev', 'lo');
    a!.ip('route', 'add', '10.99.0.0/16', 'dev', 'flannel-v6.1');
    const before = await host!.stats();
    assert.equal(ping(a!, '10.99.2.5', { src: '10.99.1.5', count: 2 }), 0);
    const after = await host!.stats();
    assert.ok(dropsOf(after).noRoute! - dropsOf(before).noRoute! >= 2, 'counted as noRoute');
    assert.equal(after.counters.icmpUnreachableSent, before.counters.icmpUnreachableSent, 'no ICMP error');
    assert.equal(after.counters.udpTxPackets, before.counters.udpTxPackets, 'nothing sent');
    assert.equal((await host!.health()).fatalErrno, 0);
  });

  test('the kernel counts no rx errors; weft drops nothing but noRoute', async () => {
    assert.equal(rxErrors(b!, 'flannel-v6.1'), 0);
    const drops = dropsOf(await host!.stats());
    for (const [reason, n] of Object.entries(drops)) {
      if (reason !== 'noRoute') assert.equal(n, 0, `weft drop counter ${reason}`);
    }
  });

  test('a hand-off passes the TUN queues and the IPv6 sockets (no IPv4 ones) to a successor: no ping6 lost', async () => {
    const before = host!;
    const streams = [new PingStream(b!, pod6(1), { src: pod6(2) }), new PingStream(a!, pod6(2), { src: pod6(1) })];
    await new Promise((r) => setTimeout(r, 300));
    const successor = await WeftHost.start(a!, options(), { handoff: join(dir, 'handoff.sock') });
    host = successor;
    for (let i = 0; i < 100 && before.alive; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    for (const [i, r] of (await Promise.all(streams.map((p) => p.stop()))).entries()) {
      assert.ok(r.received > 20, `stream ${i}: ${r.received} replies`);
      assert.equal(r.lost, 0, `stream ${i}: ${r.lost} of ${r.sent} pings lost across the hand-off`);
    }
    assert.equal(before.alive, false, 'the predecessor exited after handing over');
    assert.equal(successor.reattached, true);
    assert.equal(successor.vtepMacV6, before.vtepMacV6);
    assert.equal(a!.exec('ss', '-H', '-u', '-a', '-n', '-4').trim(), '');
    assert.match(a!.ip('-6', 'addr', 'show', 'dev', 'flannel-v6.1'), /inet6 fd00:10:244:1::\/128/);
    const ab = await transfer(a!, b!, pod6(2), 4 * kMB, { fromIp: pod6(1) });
    assert.equal(ab.serverSha256, ab.sha256, 'A→B after the hand-off');
    const ba = await transfer(b!, a!, pod6(1), 4 * kMB, { fromIp: pod6(2) });
    assert.equal(ba.serverSha256, ba.sha256, 'B→A after the hand-off');
    assert.equal(rxErrors(b!, 'flannel-v6.1'), 0);
  });
});
