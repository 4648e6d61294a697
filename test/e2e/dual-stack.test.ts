// Dual stack over VXLAN: IPv4 and IPv6 pods on one weft TUN device, IPv4
// over the IPv4 underlay (198.18.0.0/24) and IPv6 over the IPv6 underlay
// (2001:2::/64), next to a kernel dual-stack flannel node (flannel.1 +
// flannel-v6.1 as flanneld configures them, flannel-facts §6) and next to
// another weft. Hostile IPv6 underlay input is counted by reason and leaves
// the node forwarding. Pods: 10.244.<n>.5 and fd00:10:244:<n>::5 on lo.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';
import { PingStream } from '../helpers/ping-stream';
import { ipv6L4Checksum, startCapture, stripOuterUdp6 } from '../helpers/pcap';
import { WeftHost, kernelVxlanNode, kernelVxlanPeer, ping, transfer, underlay6 } from '../helpers/overlay';
import { v6, tcp6, udp6, optionsHeader } from '../helpers/tcpip6';
import type { DataPlaneOptions, DataPlaneStats } from '../../src/index';

const skip = e2eUnavailable();
const kMB = 1024 * 1024;
const kTransferBytes = 16 * kMB;
const kNet6 = 'fd00:10:244::/48';
const pod4 = (n: number): string => `10.244.${n}.5`;
const pod6 = (n: number): string => `fd00:10:244:${n}::5`;
const lease4 = (n: number): string => `10.244.${n}.0/24`;
const lease6 = (n: number): string => `fd00:10:244:${n}::/64`;

interface Lab {
  a: Netns;
  b: Netns;
  ul6: string[];
  hostA?: WeftHost;
  hostB?: WeftHost;
}

/** Two namespaces with IPv4 and IPv6 underlay and pod addresses; host n+1 has lease n+1. */
function makeLab(label: string): Lab {
  const a = new Netns(`${label}a`);
  const b = new Netns(`${label}b`);
  underlay([a, b]);
  const ul6 = underlay6([a, b]);
  [a, b].forEach((h, i) => {
    h.exec('sysctl', '-qw', 'net.ipv6.conf.lo.disable_ipv6=0');
    h.ip('addr', 'add', `${pod4(i + 1)}/32`, 'dev', 'lo');
    h.ip('-6', 'addr', 'add', `${pod6(i + 1)}/128`, 'dev', 'lo', 'nodad');
  });
  return { a, b, ul6 };
}

async function teardown(l: Lab | undefined): Promise<void> {
  if (!l) return;
  await l.hostA?.close().catch(() => undefined);
  await l.hostB?.close().catch(() => undefined);
  await l.a.destroy();
  await l.b.destroy();
}

function weftOptions(n: number, queues = 1): DataPlaneOptions {
  return {
    backend: 'vxlan',
    publicIp: `198.18.0.${n}`,
    network: '10.244.0.0/16',
    subnet: lease4(n),
    publicIpv6: `2001:2::${n}`,
    ipv6Network: kNet6,
    ipv6Subnet: lease6(n),
    queues,
  };
}

/** Checked TCP transfers over IPv4 and IPv6, both ways. */
async function assertTransfers(l: Lab): Promise<void> {
  for (const [pod, family] of [
    [pod4, 'IPv4'],
    [pod6, 'IPv6'],
  ] as const) {
    const ab = await transfer(l.a, l.b, pod(2), kTransferBytes, { fromIp: pod(1) });
    assert.equal(ab.serverBytes, kTransferBytes, `${family} A→B bytes`);
    assert.equal(ab.serverSha256, ab.sha256, `${family} A→B content differs`);
    const ba = await transfer(l.b, l.a, pod(1), kTransferBytes, { fromIp: pod(2) });
    assert.equal(ba.serverBytes, kTransferBytes, `${family} B→A bytes`);
    assert.equal(ba.serverSha256, ba.sha256, `${family} B→A content differs`);
  }
}

function assertPings(l: Lab): void {
  assert.equal(ping(l.a, pod4(2), { src: pod4(1) }), 3, 'ping A→B');
  assert.equal(ping(l.b, pod4(1), { src: pod4(2) }), 3, 'ping B→A');
  assert.equal(ping(l.a, pod6(2), { src: pod6(1) }), 3, 'ping6 A→B');
  assert.equal(ping(l.b, pod6(1), { src: pod6(2) }), 3, 'ping6 B→A');
}

/** rx errors of a kernel link (`ip -s link`). */
function rxErrors(ns: Netns, dev: string): number {
  const [link] = JSON.parse(ns.ip('-s', '-j', 'link', 'show', dev)) as { stats64: { rx: { errors: number } } }[];
  return link!.stats64.rx.errors;
}

const dropsOf = (s: DataPlaneStats): Record<string, number> => s.drops as Record<string, number>;

/** B becomes a kernel dual-stack flannel node (flanneld's devices and per-lease programming), A's peer on both families. */
async function withKernelPeer(l: Lab, kernelMac: string, kernelMac6: string): Promise<void> {
  kernelVxlanNode(l.b, { publicIp: '198.18.0.2', subnet: lease4(2), mac: kernelMac });
  kernelVxlanNode(l.b, { publicIp: l.ul6[1]!, subnet: lease6(2), mac: kernelMac6 });
  kernelVxlanPeer(l.b, { subnet: lease4(1), publicIp: '198.18.0.1', mac: l.hostA!.vtepMac! });
  kernelVxlanPeer(l.b, { subnet: lease6(1), publicIp: l.ul6[0]!, mac: l.hostA!.vtepMacV6! }, 'flannel-v6.1');
  await l.hostA!.set({ subnet: lease4(2), publicIp: '198.18.0.2', vtepMac: kernelMac });
  await l.hostA!.set({ subnet: lease6(2), publicIp: l.ul6[1]!, vtepMac: kernelMac6 });
}

describe('weft dual stack ↔ kernel flannel.1 + flannel-v6.1 (interop)', { skip }, () => {
  let l: Lab | undefined;
  const kernelMac = '0e:2a:0a:f4:02:00';
  const kernelMac6 = '0e:2a:0a:f4:02:06';
  before(async () => {
    l = makeLab('ds');
    l.hostA = await WeftHost.start(l.a, weftOptions(1));
    assert.ok(l.hostA.vtepMacV6 && l.hostA.vtepMacV6 !== l.hostA.vtepMac, 'an IPv6 MAC of its own');
    await withKernelPeer(l, kernelMac, kernelMac6);
  });
  after(() => teardown(l));

  test('the kernel clamps flannel-v6.1 to underlay − 70 and weft sets the same IPv6 MTU on its device', () => {
    const [k] = JSON.parse(l!.b.ip('-j', 'link', 'show', 'flannel-v6.1')) as { mtu: number }[];
    assert.equal(k!.mtu, 1430);
    const dev = l!.a.exec('cat', '/proc/sys/net/ipv6/conf/flannel.1/mtu').trim();
    assert.equal(dev, '1430');
  });

  test('pods ping and ping6 each other both ways', () => {
    assertPings(l!);
  });

  test('a full-size ping6 (inner packet = IPv6 MTU 1430) crosses unfragmented both ways', () => {
    for (const [from, src, dst] of [
      [l!.a, pod6(1), pod6(2)],
      [l!.b, pod6(2), pod6(1)],
    ] as const) {
      const out = from.exec('ping', '-6', '-c', '2', '-i', '0.2', '-W', '2', '-M', 'do', '-s', String(1430 - 48), '-I', src, dst);
      assert.match(out, / 2 received/);
    }
  });

  test(`${kTransferBytes / kMB} MB TCP transfers over IPv4 and IPv6 arrive intact both ways`, async () => {
    await assertTransfers(l!);
  });

  test('the kernel counts no rx errors; weft drops nothing but multicast the TUN emits (noRoute)', async () => {
    assert.equal(rxErrors(l!.b, 'flannel.1'), 0);
    assert.equal(rxErrors(l!.b, 'flannel-v6.1'), 0);
    const drops = dropsOf(await l!.hostA!.stats());
    for (const [reason, n] of Object.entries(drops)) {
      if (reason !== 'noRoute') assert.equal(n, 0, `weft drop counter ${reason}`);
    }
  });

  test('ping6 to an IPv6 subnet without a lease gets ICMPv6 no route from that subnet', async () => {
    const before = await l!.hostA!.stats();
    let out = '';
    try {
      out = l!.a.exec('ping', '-6', '-c', '2', '-i', '0.2', '-W', '1', '-I', pod6(1), 'fd00:10:244:9::9');
    } catch (e) {
      out = String((e as { stdout?: string }).stdout ?? '');
    }
    assert.match(out, /From fd00:10:244:9:: icmp_seq=\d+ Destination unreachable: No route/);
    const after = await l!.hostA!.stats();
    assert.equal(after.counters.icmpUnreachableSent! - before.counters.icmpUnreachableSent!, 2);
    assert.ok(dropsOf(after).noRoute! - dropsOf(before).noRoute! >= 2);
  });

  test('hostile IPv6 underlay input is dropped by reason, and the node still forwards', async () => {
    const macA6 = Buffer.from(l!.hostA!.vtepMacV6!.split(':').map((x) => parseInt(x, 16)));
    const macA4 = Buffer.from(l!.hostA!.vtepMac!.split(':').map((x) => parseInt(x, 16)));
    const macB6 = Buffer.from(kernelMac6.split(':').map((x) => parseInt(x, 16)));
    const src6 = v6([0xfd00, 0x10, 0x244, 2, 0, 0, 0, 5]);
    const dst6 = v6([0xfd00, 0x10, 0x244, 1, 0, 0, 0, 5]);
    const inner = udp6({ src: src6, dst: dst6, sport: 40000, dport: 9, payload: Buffer.from('hostile') });
    // Built by hand: the codec would refuse to encapsulate the malformed ones.
    const frame = (ip: Buffer, o: { vni?: number; dst?: Buffer } = {}): Buffer => {
      const vx = Buffer.alloc(8);
      vx[0] = 0x08;
      vx.writeUInt32BE((o.vni ?? 1) << 8, 4);
      return Buffer.concat([vx, o.dst ?? macA6, macB6, Buffer.from('86dd', 'hex'), ip]);
    };
    const good = frame(inner);
    const longLen = Buffer.from(good);
    longLen.writeUInt16BE(inner.length, 22 + 4); // payload length past the frame
    const hbhLate = frame(
      udp6({
        src: src6,
        dst: dst6,
        ext: [
          [60, optionsHeader()],
          [0, optionsHeader()],
        ],
      }),
    );
    const chain9 = frame(udp6({ src: src6, dst: dst6, ext: Array.from({ length: 9 }, () => [60, optionsHeader()] as [number, Buffer]) }));
    const v4inner = Buffer.from('450000200000400040110000' + '0af40205' + '0af40105' + '9c40000900000000' + '00000000', 'hex');
    const v4frame = Buffer.concat([good.subarray(0, 20), Buffer.from('0800', 'hex'), v4inner]);
    const outside = frame(tcp6({ src: src6, dst: v6([0xfd00, 0x99, 0, 0, 0, 0, 0, 1]) }));
    const cases: [string, Buffer[]][] = [
      ['malformed', [good.subarray(0, 7), good.subarray(0, 20), good.subarray(0, 22 + 30), longLen, hbhLate, chain9]],
      ['badVni', [frame(inner, { vni: 2 }), frame(inner, { vni: 4096 })]],
      ['badMac', [frame(inner, { dst: macA4 }), frame(inner, { dst: Buffer.alloc(6, 0xff) })]],
      ['badDestination', [v4frame, outside]],
    ];
    const send = (from: string, payloads: Buffer[]): void => {
      l!.b.exec(
        process.execPath,
        join(__dirname, '..', 'helpers', 'send-udp.js'),
        from,
        l!.ul6[0]!,
        '8472',
        ...payloads.map((p) => p.toString('hex')),
      );
    };
    l!.b.ip('-6', 'addr', 'add', '2001:2::9/64', 'dev', 'ul', 'nodad');
    const before = dropsOf(await l!.hostA!.stats());
    for (const [, payloads] of cases) send(l!.ul6[1]!, payloads);
    send('2001:2::9', [good, good]); // no peer
    // The good datagram from the peer still goes through, and so does traffic.
    assertPings(l!);
    const after = dropsOf(await l!.hostA!.stats());
    const delta = (k: string): number => after[k]! - before[k]!;
    for (const [reason, payloads] of cases) assert.equal(delta(reason), payloads.length, reason);
    assert.equal(delta('unknownPeer'), 2);
    for (const reason of ['badFlags', 'ownMac', 'notIp', 'badSource', 'tunWriteError']) assert.equal(delta(reason), 0, reason);
  });

  test("weft's IPv6 VXLAN frames carry what the kernel's do: checksum set and right, same flow label and hop limit", async () => {
    // Checksums completed in software on A's side, as a wire carries them.
    l!.a.exec('ethtool', '-K', 'ul', 'tx', 'off');
    const dir = mkdtempSync('/tmp/weft-ds-cap-');
    try {
      const cap = await startCapture(l!.b, 'ul', 8472, join(dir, 'ds.pcap'));
      assert.equal(ping(l!.a, pod6(2), { src: pod6(1), count: 2 }), 2);
      const frames = (await cap.stop()).frames
        .map((f) => f.data)
        .filter((f) => f.readUInt16BE(12) === 0x86dd)
        .map(stripOuterUdp6);
      const sent = frames.filter((f) => f.payload.subarray(14, 20).equals(Buffer.from(l!.hostA!.vtepMacV6!.replace(/:/g, ''), 'hex')));
      const kernel = frames.filter((f) => f.payload.subarray(14, 20).equals(Buffer.from(kernelMac6.replace(/:/g, ''), 'hex')));
      assert.ok(sent.length >= 2 && kernel.length >= 2, `weft ${sent.length}, kernel ${kernel.length} frames`);
      for (const f of sent) {
        assert.equal(f.dport, 8472);
        assert.notEqual(f.sport, 8472, "from the queue's IPv6 sender, on a port of its own (as IPv4)");
        assert.notEqual(f.udpChecksum, 0);
        assert.equal(ipv6L4Checksum(f.ipSrc, f.ipDst, 17, f.udp), 0, 'outer UDP checksum');
        assert.equal(f.flowLabel, kernel[0]!.flowLabel, 'flow label as the kernel sends it');
        assert.equal(f.hopLimit, kernel[0]!.hopLimit);
        assert.equal(f.trafficClass, kernel[0]!.trafficClass);
        assert.equal(f.payload.readUInt16BE(20), 0x86dd);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a dual-stack data plane that cannot bind its IPv6 underlay', { skip }, () => {
  let l: Lab | undefined;
  before(() => {
    l = makeLab('db');
  });
  after(() => teardown(l));

  test('fails to open, naming publicIpv6 and the address, and leaves no device behind', async () => {
    await assert.rejects(
      WeftHost.start(l!.a, { ...weftOptions(1), publicIpv6: '2001:2::77' }),
      /cannot bind UDP \[2001:2::77\]:8472 \(2001:2::77 is not an address of this host\).*option publicIpv6\)/,
    );
    assert.throws(() => l!.a.ip('link', 'show', 'flannel.1'), /does not exist/);
  });
});

describe('weft dual stack (2 queues) ↔ weft dual stack', { skip }, () => {
  let l: Lab | undefined;
  before(async () => {
    l = makeLab('dw');
    // Two queues on A: two IPv6 sockets sharing [PublicIPv6]:8472, flows hashed over them.
    l.hostA = await WeftHost.start(l.a, weftOptions(1, 2));
    l.hostB = await WeftHost.start(l.b, weftOptions(2));
    for (const [self, peer, n] of [
      [l.hostA, l.hostB, 2],
      [l.hostB, l.hostA, 1],
    ] as const) {
      await self.set({ subnet: lease4(n), publicIp: `198.18.0.${n}`, vtepMac: peer.vtepMac! });
      await self.set({ subnet: lease6(n), publicIp: l.ul6[n - 1]!, vtepMac: peer.vtepMacV6! });
    }
  });
  after(() => teardown(l));

  test('pods ping and ping6 each other both ways', () => {
    assertPings(l!);
  });

  test(`${kTransferBytes / kMB} MB TCP transfers over IPv4 and IPv6 arrive intact both ways`, async () => {
    await assertTransfers(l!);
    const stats = await l!.hostA!.stats();
    for (const [reason, n] of Object.entries(dropsOf(stats))) {
      if (reason !== 'noRoute') assert.equal(n, 0, `weft drop counter ${reason}`);
    }
  });

  test('IPv6 TCP goes through TSO6 segmentation on the way out and GRO coalescing on the way in', async () => {
    const c = async (h: WeftHost): Promise<Record<string, number>> => (await h.stats()).counters as Record<string, number>;
    const [a0, b0] = [await c(l!.hostA!), await c(l!.hostB!)];
    const t = await transfer(l!.a, l!.b, pod6(2), kTransferBytes, { fromIp: pod6(1) });
    assert.equal(t.serverSha256, t.sha256);
    const [a1, b1] = [await c(l!.hostA!), await c(l!.hostB!)];
    assert.ok(a1.tunRxGsoPackets! > a0.tunRxGsoPackets!, 'A read TCPv6 super-packets from its TUN and segmented them');
    assert.ok(b1.udpRxGroBatches! > b0.udpRxGroBatches!, 'B received GRO batches on its IPv6 socket');
    assert.ok(b1.tunTxGsoPackets! > b0.tunTxGsoPackets!, 'B wrote coalesced TCPv6 super-packets into its TUN');
  });
});

describe('a dual-stack data plane handed over to a successor forwards both families on', { skip }, () => {
  let l: Lab | undefined;
  let dir = '';
  let successor: WeftHost | undefined;
  const kernelMac = '0e:2a:0a:f4:02:00';
  const kernelMac6 = '0e:2a:0a:f4:02:06';
  before(async () => {
    dir = mkdtempSync('/tmp/weft-ds-handoff-');
    l = makeLab('dh');
    l.hostA = await WeftHost.start(l.a, weftOptions(1), { handoff: join(dir, 'handoff.sock') });
    await withKernelPeer(l, kernelMac, kernelMac6);
  });
  after(async () => {
    await successor?.close().catch(() => undefined);
    await teardown(l);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the successor takes the TUN queues and both families’ sockets, keeps both MACs and the leases', async () => {
    assertPings(l!);
    const before = l!.hostA!;
    // IPv6 ping streams through the hand-off, both directions: the device's
    // IPv6 address and route must stay up while the successor configures it.
    // A route someone else put through the device: a hand-off must not flush it.
    l!.a.ip('-6', 'route', 'add', 'fd00:99::/64', 'dev', 'flannel.1');
    const streams = [new PingStream(l!.b, pod6(1), { src: pod6(2) }), new PingStream(l!.a, pod6(2), { src: pod6(1) })];
    await new Promise((r) => setTimeout(r, 300));
    successor = await WeftHost.start(l!.a, weftOptions(1), { handoff: join(dir, 'handoff.sock') });
    for (let i = 0; i < 100 && before.alive; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    // Counted before ping stops: an echo still in flight at SIGINT is no loss.
    const results = streams.map((p) => p.snapshot());
    await Promise.all(streams.map((p) => p.stop()));
    for (const [i, r] of results.entries()) {
      assert.ok(r.received > 20, `stream ${i}: ${r.received} replies`);
      assert.equal(r.lost, 0, `stream ${i}: ${r.lost} of ${r.sent} IPv6 pings lost across the hand-off`);
    }
    assert.equal(before.alive, false, 'the predecessor exited after handing over');
    // From /proc, not `ip -6 route show`: iproute2's print_route trips ASan's strncpy-overlap check under test/asan.sh.
    assert.match(
      l!.a.exec('cat', '/proc/net/ipv6_route'),
      /^fd000099000000000000000000000000 40 .* flannel\.1$/m,
      "the device's IPv6 routes survive the hand-off",
    );
    assert.equal(successor.reattached, true);
    assert.equal(successor.vtepMac, before.vtepMac);
    assert.equal(successor.vtepMacV6, before.vtepMacV6);
    l!.hostA = successor;
    successor = undefined;
    assertPings(l!);
    const ab = await transfer(l!.a, l!.b, pod6(2), 4 * kMB, { fromIp: pod6(1) });
    assert.equal(ab.serverSha256, ab.sha256, 'IPv6 A→B after the hand-off');
  });
});
