// Golden IPv6 VXLAN frames from the kernel: two namespaces with flannel-v6.1
// devices over an IPv6 underlay, configured as flanneld does (flannel-facts
// §6: VNI 1, local PublicIPv6, nolearning, port 8472; neighbour, FDB entry
// and onlink route per lease). A ping6 and a TCP segment are captured on
// the underlay as a wire carries them (tx offloads off), and weft's codec
// must (1) decode the kernel's frames and (2) encapsulate the same inner
// packets into the very bytes the kernel sent: VXLAN header, inner Ethernet
// (the peer's BackendV6Data MAC, 0x86dd) and inner packet. The kernel's outer
// UDP checksum is non-zero and right, as IPv6 requires.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping, transfer, underlay6 } from '../helpers/overlay';
import { ipv6L4Checksum, startCapture, stripOuterUdp6, type OuterUdp6 } from '../helpers/pcap';
import { BackendId, loadAddon, type NativeTable } from '../../src/dataplane/native';
import { ipv6Bytes, parseIPv6 } from '../../src/net/ip6';
import { parseMac } from '../../src/net/mac';

const skip = e2eUnavailable();
const macC = '0e:2a:0a:f4:01:06';
const macD = '0e:2a:0a:f4:02:06';
const bytes6 = (text: string): Buffer => ipv6Bytes(parseIPv6(text)!);

describe('kernel flannel-v6.1 frames (golden) against weft’s IPv6 codec', { skip }, () => {
  let c: Netns | undefined;
  let d: Netns | undefined;
  let dir = '';
  let table: NativeTable | undefined;
  let frames: OuterUdp6[] = [];
  let ul6: string[] = [];

  before(async () => {
    dir = mkdtempSync('/tmp/weft-golden6-');
    c = new Netns('g6c');
    d = new Netns('g6d');
    underlay([c, d]);
    ul6 = underlay6([c, d]);
    [c, d].forEach((h, i) => {
      h.exec('sysctl', '-qw', 'net.ipv6.conf.lo.disable_ipv6=0');
      h.ip('-6', 'addr', 'add', `fd00:10:244:${i + 1}::5/128`, 'dev', 'lo', 'nodad');
    });
    kernelVxlanNode(c, { publicIp: ul6[0]!, subnet: 'fd00:10:244:1::/64', mac: macC });
    kernelVxlanNode(d, { publicIp: ul6[1]!, subnet: 'fd00:10:244:2::/64', mac: macD });
    kernelVxlanPeer(c, { subnet: 'fd00:10:244:2::/64', publicIp: ul6[1]!, mac: macD }, 'flannel-v6.1');
    kernelVxlanPeer(d, { subnet: 'fd00:10:244:1::/64', publicIp: ul6[0]!, mac: macC }, 'flannel-v6.1');
    const cap = await startCapture(d, 'ul', 8472, join(dir, 'v6.pcap'));
    assert.equal(ping(c, 'fd00:10:244:2::5', { src: 'fd00:10:244:1::5', count: 2 }), 2);
    const t = await transfer(c, d, 'fd00:10:244:2::5', 4000, { fromIp: 'fd00:10:244:1::5' });
    assert.equal(t.serverSha256, t.sha256);
    const pcap = await cap.stop();
    // C's frames to D (the capture holds both directions).
    frames = pcap.frames.map((f) => stripOuterUdp6(f.data)).filter((f) => f.ipDst.equals(bytes6(ul6[1]!)));
    const { NativeTable: Table } = loadAddon();
    table = new Table(join(dir, 't.table'), {
      network: 0x0af40000,
      networkPrefixLen: 16,
      subnetLen: 24,
      backend: BackendId.vxlan,
      network6: bytes6('fd00:10:244::'),
      network6PrefixLen: 48,
      subnet6Len: 64,
    });
    table.set(bytes6('fd00:10:244:2::'), 64, bytes6(ul6[1]!), parseMac(macD)!, BackendId.vxlan);
    table.set(bytes6('fd00:10:244:1::'), 64, bytes6(ul6[0]!), parseMac(macC)!, BackendId.vxlan);
  });
  after(async () => {
    table?.close();
    await c?.destroy();
    await d?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The first captured frame C sent whose inner IPv6 packet satisfies `pick`. */
  const find = (pick: (inner: Buffer) => boolean): OuterUdp6 => {
    const f = frames.find((x) => x.payload.length > 22 + 40 && pick(x.payload.subarray(22)));
    assert.ok(f, `no such frame among ${frames.length}`);
    return f;
  };
  const echo = (inner: Buffer): boolean => inner[6] === 58 && inner[40] === 128;
  // Next header TCP and a payload longer than the TCP header (data offset at byte 12 of it).
  const tcpData = (inner: Buffer): boolean => inner[6] === 6 && inner.readUInt16BE(4) > (inner[40 + 12]! >> 4) * 4;

  for (const [name, pick] of [
    ['a ping6 (ICMPv6 echo request)', echo],
    ['a TCP segment with data', tcpData],
  ] as const) {
    test(`${name}: outer UDP checksum set and right, port 8472, ethertype 0x86dd to the peer's MAC`, () => {
      const f = find(pick);
      assert.equal(f.dport, 8472);
      assert.notEqual(f.udpChecksum, 0, 'IPv6 needs the UDP checksum');
      assert.equal(ipv6L4Checksum(f.ipSrc, f.ipDst, 17, f.udp), 0, 'outer UDP checksum');
      assert.equal(f.payload.readUInt32BE(0), 0x08000000);
      assert.equal(f.payload.readUInt32BE(4), 1 << 8);
      assert.deepEqual(f.payload.subarray(8, 14), parseMac(macD));
      assert.deepEqual(f.payload.subarray(14, 20), parseMac(macC));
      assert.equal(f.payload.readUInt16BE(20), 0x86dd);
    });

    test(`${name}: weft decodes the kernel's frame and encapsulates its inner packet into the same bytes`, () => {
      const { codec } = loadAddon();
      const f = find(pick);
      const inner = f.payload.subarray(22);
      const dec = codec.vxlanDecap(f.payload, 1, parseMac(macD)!);
      assert.equal(dec.verdict, 'forward');
      assert.deepEqual(dec.packet, inner);
      // The receive pipeline as D's IPv6 socket runs it (peer check, admission, inner source).
      const rx = codec.receive(
        f.payload,
        {
          backend: BackendId.vxlan,
          vni: 1,
          ownMac: parseMac(macD)!,
          checkPeers: true,
          checkInnerSource: true,
          coalesce: true,
          coalesceUdp: false,
          gsoSize: 0,
          outerSrc: 0,
          outerSrc6: f.ipSrc,
        },
        table!,
      );
      assert.equal(rx.writes.length, 1, JSON.stringify(rx.counts));
      assert.deepEqual(rx.writes[0]!.packet, inner);
      // The send pipeline as C's worker runs it: same VXLAN header, Ethernet and packet.
      const enc = codec.vxlanEncap(inner, 1, parseMac(macD)!, parseMac(macC)!);
      assert.deepEqual(enc.packet, f.payload);
      const tx = codec.encapsulate(
        inner,
        { backend: BackendId.vxlan, vni: 1, ownMac: Buffer.from('0e2a0af40100', 'hex'), ownMac6: parseMac(macC)!, vnetHdr: false },
        table!,
      );
      assert.equal(tx.verdict, 'forward');
      assert.equal(tx.family, 6);
      assert.deepEqual(tx.peer, f.ipDst);
      assert.deepEqual(tx.datagrams, [f.payload]);
    });
  }
});
