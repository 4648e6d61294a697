// The receive and send pipelines (native/core/decap.h, encap.h) through the
// codec exports `receive` and `encapsulate`: the same code the worker runs
// per message and per TUN read, against a real table, so the admission
// decisions (peer, inner source, destination) and the routing are tested
// without namespaces.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BackendId, loadAddon, type NativeTable } from '../../src/dataplane/native';
import { TCP, tcp4, udp4 } from '../helpers/tcpip';

const { NativeTable: Table, codec } = loadAddon();
const ownMac = Buffer.from([0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x00]);
const peerMac = Buffer.from([0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x00]);
const kPeer = 0xc6120001; // 198.18.0.1, lease 10.244.1.0/24
const kOther = 0xc6120003; // 198.18.0.3, lease 10.244.3.0/24
const kStranger = 0xcb007107; // 203.0.113.7, no lease
let dir = '';
let table: NativeTable;

before(() => {
  dir = mkdtempSync('/dev/shm/weft-pipeline-test-');
  table = new Table(join(dir, 't.table'), { network: 0x0af40000, networkPrefixLen: 16, subnetLen: 24, backend: BackendId.vxlan });
  const ip = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  table.set(0x0af40100, 24, ip(kPeer), peerMac, BackendId.vxlan);
  table.set(0x0af40300, 24, ip(kOther), Buffer.from([0x0e, 0x2a, 0x0a, 0xf4, 0x03, 0x00]), BackendId.vxlan);
});
after(() => {
  table.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The VXLAN UDP payload a peer with `peerMac` sends us for `inner`. */
const frame = (inner: Buffer) => codec.vxlanEncap(inner, 1, ownMac, peerMac).packet!;
const rx = { backend: BackendId.vxlan, vni: 1, ownMac, checkPeers: true, checkInnerSource: true, coalesce: true, coalesceUdp: false };

describe('receive pipeline (Decapsulator::Receive)', () => {
  const fromPeer = { src: [10, 244, 1, 5], dst: [10, 244, 2, 5] };

  it('writes a datagram from a peer whose inner source lies in its lease', () => {
    const inner = udp4({ ...fromPeer, payload: Buffer.from('hello') });
    const r = codec.receive(frame(inner), { ...rx, outerSrc: kPeer, gsoSize: 0 }, table);
    assert.equal(r.writes.length, 1);
    assert.deepEqual(r.writes[0]!.packet, inner);
    assert.equal(r.writes[0]!.vnet.gsoType, 0);
    assert.deepEqual(r.counts, { udpRxPackets: 1, udpRxBytes: frame(inner).length });
  });

  it('drops by reason: unknown peer, inner source of another lease, destination outside the network', () => {
    const inner = udp4({ ...fromPeer, payload: Buffer.from('x') });
    const stranger = codec.receive(frame(inner), { ...rx, outerSrc: kStranger, gsoSize: 0 }, table);
    assert.equal(stranger.writes.length, 0);
    assert.equal(stranger.counts.unknownPeer, 1);
    const spoofed = codec.receive(frame(inner), { ...rx, outerSrc: kOther, gsoSize: 0 }, table);
    assert.equal(spoofed.writes.length, 0);
    assert.equal(spoofed.counts.badSource, 1);
    const relay = udp4({ src: [10, 244, 1, 5], dst: [192, 168, 1, 1] });
    const r = codec.receive(frame(relay), { ...rx, outerSrc: kPeer, gsoSize: 0 }, table);
    assert.equal(r.counts.badDestination, 1);
    // With the checks off the same datagrams pass (allowUnknownPeers, no checkInnerSource).
    const open = { ...rx, checkPeers: false, checkInnerSource: false, gsoSize: 0 };
    assert.equal(codec.receive(frame(inner), { ...open, outerSrc: kStranger }, table).writes.length, 1);
    assert.equal(codec.receive(frame(inner), { ...open, outerSrc: kOther }, table).writes.length, 1);
  });

  it('merges the TCP segments of one GRO message into one super-packet, and accounts for every datagram', () => {
    const seg = (i: number) => tcp4({ ...fromPeer, seq: 1000 + i * 100, flags: TCP.ACK, payload: Buffer.alloc(100, i) });
    const frames = [0, 1, 2, 3].map((i) => frame(seg(i)));
    const bad = Buffer.from(frames[3]!);
    bad[0] = 0x0c; // VXLAN flags other than I
    const msg = Buffer.concat([...frames.slice(0, 3), bad]);
    const r = codec.receive(msg, { ...rx, outerSrc: kPeer, gsoSize: frames[0]!.length }, table);
    assert.equal(r.writes.length, 1);
    assert.equal(r.writes[0]!.vnet.gsoType, 1);
    assert.equal(r.writes[0]!.vnet.gsoSize, 100);
    assert.equal(r.writes[0]!.packet.length, 20 + 20 + 300);
    assert.equal(r.counts.udpRxPackets, 4);
    assert.equal(r.counts.udpRxGroBatches, 1);
    assert.equal(r.counts.badFlags, 1);
    const apart = codec.receive(msg, { ...rx, coalesce: false, outerSrc: kPeer, gsoSize: frames[0]!.length }, table);
    assert.equal(apart.writes.length, 3);
  });

  it('merges the GRO messages of one receive batch into one super-packet, as the worker does, and keeps the order', () => {
    // A 64 KiB TSO send reaches the peer as two GSO trains; with coalesceBatch
    // the second continues the first's run: one TUN write instead of two.
    const seg = (i: number) => tcp4({ ...fromPeer, seq: 1000 + i * 100, flags: TCP.ACK, payload: Buffer.alloc(100, i) });
    const frames = [0, 1, 2, 3, 4, 5].map((i) => frame(seg(i)));
    const gsoSize = frames[0]!.length;
    const batch = { outerSrc: kPeer, gsoSize, messageLengths: [3 * gsoSize, 3 * gsoSize] };
    const joined = codec.receive(Buffer.concat(frames), { ...rx, ...batch, coalesceBatch: true }, table);
    assert.equal(joined.writes.length, 1);
    assert.equal(joined.writes[0]!.vnet.gsoSize, 100);
    assert.equal(joined.writes[0]!.packet.length, 20 + 20 + 600);
    assert.deepEqual(joined.writes[0]!.packet.subarray(40), Buffer.concat([0, 1, 2, 3, 4, 5].map((i) => Buffer.alloc(100, i))));
    assert.equal(joined.counts.udpRxGroBatches, 2);
    // Without it each message is its own write.
    const perMessage = codec.receive(Buffer.concat(frames), { ...rx, ...batch, coalesceBatch: false }, table);
    assert.deepEqual(
      perMessage.writes.map((w) => w.packet.length),
      [340, 340],
    );
    // A lone datagram after an open run: the run is written first.
    const lone = frame(udp4({ ...fromPeer, payload: Buffer.from('after') }));
    const mixed = codec.receive(
      Buffer.concat([...frames.slice(0, 3), lone]),
      { ...rx, outerSrc: kPeer, gsoSize, coalesceBatch: true, messageLengths: [3 * gsoSize, lone.length] },
      table,
    );
    assert.deepEqual(
      mixed.writes.map((w) => w.packet.length),
      [340, 20 + 8 + 5],
    );
    // A gap in the sequence across messages ends the run.
    const gap = [0, 1, 2, 4, 5, 6].map((i) => frame(seg(i)));
    const split = codec.receive(Buffer.concat(gap), { ...rx, ...batch, coalesceBatch: true }, table);
    assert.equal(split.writes.length, 2);
  });
});

describe('send pipeline (Encapsulator::Encapsulate)', () => {
  const tx = { backend: BackendId.vxlan, vni: 1, ownMac, vnetHdr: false };

  it('sends a packet for a lease to its PublicIP with its VtepMAC', () => {
    const inner = udp4({ src: [10, 244, 2, 5], dst: [10, 244, 1, 9], payload: Buffer.from('hi') });
    const r = codec.encapsulate(inner, tx, table);
    assert.equal(r.verdict, 'forward');
    assert.deepEqual(r.peer, Buffer.from([198, 18, 0, 1]));
    assert.equal(r.datagrams!.length, 1);
    assert.deepEqual(r.datagrams![0], codec.vxlanEncap(inner, 1, peerMac, ownMac).packet);
  });

  it('answers a packet without a lease with ICMP net unreachable from the gateway of its subnet', () => {
    const inner = udp4({ src: [10, 244, 2, 5], dst: [10, 244, 7, 9] });
    const r = codec.encapsulate(inner, tx, table);
    assert.equal(r.verdict, 'noRoute');
    assert.equal(r.counts.noRoute, 1);
    assert.ok(r.icmp);
    assert.deepEqual([...r.icmp.subarray(12, 20)], [10, 244, 7, 0, 10, 244, 2, 5]);
    assert.deepEqual([...r.icmp.subarray(20, 22)], [3, 0]);
  });

  it('cuts a TSO super-packet into segments behind one virtio_net_hdr read', () => {
    const inner = tcp4({ src: [10, 244, 2, 5], dst: [10, 244, 3, 9], flags: TCP.ACK | TCP.PSH, payload: Buffer.alloc(3000, 7) });
    const vnet = Buffer.alloc(10);
    vnet[0] = 1; // NEEDS_CSUM
    vnet[1] = 1; // TCPv4
    vnet.writeUInt16LE(1000, 4); // gso_size
    vnet.writeUInt16LE(20, 6);
    vnet.writeUInt16LE(16, 8);
    const r = codec.encapsulate(Buffer.concat([vnet, inner]), { ...tx, vnetHdr: true }, table);
    assert.equal(r.verdict, 'forward');
    assert.deepEqual(r.peer, Buffer.from([198, 18, 0, 3]));
    assert.deepEqual(
      r.datagrams!.map((d) => d.length),
      [22 + 40 + 1000, 22 + 40 + 1000, 22 + 40 + 1000],
    );
    assert.equal(r.counts.tunRxGsoPackets, 1);
  });
});
