// The codecs of the native core, through the addon (loadAddon().codec).
//
// Expected bytes are written out by hand from RFC 7348 / RFC 791 / RFC 1624
// and flannel-facts §5–6, or taken from real kernel captures; checksums are
// checked against the naive RFC 1071 sum of test/helpers/tcpip.ts, never against the code
// under test.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { loadAddon } from '../../src/dataplane/native';
import { readPcap, stripOuterUdp } from '../helpers/pcap';
import { type Ipv4Fields, checksum, hex, ipv4 as ipv4Packet, mac } from '../helpers/tcpip';

const codec = loadAddon().codec;
const kFixtures = process.env.WEFT_FIXTURES ?? join(__dirname, '..', '..', '..', 'test', 'fixtures');

const macA = mac('0e:2a:0a:f4:01:00'); // node A's flannel.1, as in the fixtures
const macB = mac('0e:2a:0a:f4:02:00');

/** IPv4 header of `ihl` words (options filled with NOPs), `payload` after it, valid checksum. */
const ipv4 = (o: Ipv4Fields & { proto?: number; ihl?: number; payload?: Buffer }): Buffer =>
  ipv4Packet({ dst: [10, 244, 2, 5], payload: Buffer.from('weft!!!!', 'latin1'), ...o, ipOptions: Buffer.alloc(((o.ihl ?? 5) - 5) * 4, 1) });

const headerValid = (p: Buffer) => checksum(p.subarray(0, (p[0]! & 15) * 4)) === 0;

function forwarded(r: ReturnType<typeof codec.vxlanDecap>): Buffer {
  assert.equal(r.verdict, 'forward');
  assert.ok(r.packet);
  return r.packet;
}

describe('VXLAN golden bytes', () => {
  it('puts flags 0x08, VNI 1, the peer MAC, our MAC and ethertype 0x0800 in front of an IPv4 packet, unpadded', () => {
    const inner = ipv4({ payload: Buffer.from([0xab]) }); // 21 bytes: an inner frame far below 60 bytes
    const want = Buffer.concat([
      hex('08 00 00 00 00 00 01 00'), // RFC 7348 §5: I flag, reserved, VNI 1, reserved
      hex('0e 2a 0a f4 02 00'), // inner dst = peer VtepMAC
      hex('0e 2a 0a f4 01 00'), // inner src = our VtepMAC
      hex('08 00'),
      inner,
    ]);
    assert.deepEqual(forwarded(codec.vxlanEncap(inner, 1, macB, macA)), want);
  });

  it('uses ethertype 0x86dd for IPv6 and encodes large VNIs in three bytes', () => {
    const v6 = Buffer.alloc(48);
    v6[0] = 0x60;
    v6.writeUInt16BE(8, 4);
    v6[6] = 17;
    v6[7] = 64;
    const out = forwarded(codec.vxlanEncap(v6, 4096, macB, macA));
    assert.deepEqual(out.subarray(0, 8), hex('08 00 00 00 00 10 00 00'));
    assert.deepEqual(out.subarray(20, 22), hex('86 dd'));
    assert.deepEqual(out.subarray(22), v6);
    assert.deepEqual(forwarded(codec.vxlanEncap(v6, 0xffffff, macB, macA)).subarray(0, 8), hex('08 00 00 00 ff ff ff 00'));
  });

  it('sends only the IP packet, not bytes after its total length', () => {
    const inner = ipv4({});
    const out = forwarded(codec.vxlanEncap(Buffer.concat([inner, Buffer.alloc(6)]), 1, macB, macA));
    assert.equal(out.length, 22 + inner.length);
  });
});

describe('udp backend golden bytes', () => {
  it('sends the bare IPv4 packet with TTL - 1 and the RFC 1624-patched checksum', () => {
    // The first ICMP echo request of vxlan-icmp-offload-off: TTL 64, checksum 0xfba7.
    const icmp = Buffer.alloc(64, 0x10); // the 64 ICMP bytes; only the header matters here
    const req = Buffer.concat([hex('45 00 00 54 26 10 40 00 40 01 fb a7 0a f4 01 05 0a f4 02 05'), icmp]);
    const out = forwarded(codec.udpEncap(req));
    // TTL 0x40 -> 0x3f lowers the word 0x4001 by 0x0100, so the checksum rises by 0x0100.
    assert.deepEqual(out, Buffer.concat([hex('45 00 00 54 26 10 40 00 3f 01 fc a7 0a f4 01 05 0a f4 02 05'), icmp]));
    const recomputed = Buffer.from(out.subarray(0, 20));
    recomputed.writeUInt16BE(0, 10);
    assert.equal(checksum(recomputed), 0xfca7);
  });

  it('decrements again on receive and hands the same bytes to the TUN', () => {
    const p = ipv4({ ttl: 63, payload: Buffer.alloc(100, 7) });
    const out = forwarded(codec.udpDecap(p));
    assert.equal(out.length, p.length);
    assert.equal(out[8], 62);
    assert.ok(headerValid(out));
    assert.deepEqual(out.subarray(20), p.subarray(20));
  });

  it('patches the checksum right for every TTL and header, as a full recomputation does', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 255 }), fc.integer({ min: 5, max: 15 }), fc.uint8Array({ minLength: 60, maxLength: 60 }), (ttl, ihl, junk) => {
        const p = ipv4({ ttl, ihl });
        Buffer.from(junk).copy(p, 4, 4, 8); // random ID and fragment field
        Buffer.from(junk).copy(p, 12, 12, ihl * 4); // random addresses and options
        p.writeUInt16BE(0, 10);
        p.writeUInt16BE(checksum(p.subarray(0, ihl * 4)), 10);
        const out = forwarded(codec.udpEncap(p));
        const want = Buffer.from(p);
        want[8] = ttl - 1;
        want.writeUInt16BE(0, 10);
        want.writeUInt16BE(checksum(want.subarray(0, ihl * 4)), 10);
        assert.deepEqual(out, want);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('ICMP net unreachable for destinations without a lease', () => {
  it('is type 3 code 0 with TTL 8 from our address, quoting the offender header and 8 bytes', () => {
    const offender = ipv4({ dst: [10, 244, 9, 9], payload: hex('9c 42 13 89 00 0c 00 00 70 69 6e 67') });
    const got = codec.netUnreachable(offender, 0x0af40100);
    assert.ok(got);
    const want = Buffer.concat([
      hex('45 00 00 38 00 00 00 00 08 01 00 00 0a f4 01 00 0a f4 01 05'), // 56 bytes, ID 0, no DF, TTL 8, ICMP
      hex('03 00 00 00 00 00 00 00'), // destination unreachable, net unreachable, unused
      offender.subarray(0, 28),
    ]);
    want.writeUInt16BE(checksum(want.subarray(0, 20)), 10);
    want.writeUInt16BE(checksum(want.subarray(20)), 22);
    assert.deepEqual(got, want);
  });

  it('is not sent for ICMP offenders or non-first fragments, but is for a first fragment', () => {
    assert.equal(codec.netUnreachable(ipv4({ proto: 1 }), 0x0af40100), null);
    assert.equal(codec.netUnreachable(ipv4({ fragOff: 0x0001 }), 0x0af40100), null);
    assert.equal(codec.netUnreachable(ipv4({ fragOff: 0x2000 | 0x00b9 }), 0x0af40100), null);
    assert.equal(codec.netUnreachable(ipv4({ fragOff: 0x2000 }), 0x0af40100)?.length, 56);
  });

  it('quotes a short offender only as far as it goes, and nothing for a malformed one', () => {
    const bare = ipv4({ payload: Buffer.alloc(0), proto: 6 });
    assert.equal(codec.netUnreachable(bare, 0x0af40100)?.length, 48);
    assert.equal(codec.netUnreachable(bare.subarray(0, 19), 0x0af40100), null);
  });
});

interface SidecarIp { version: number; ihl: number; tos: string; total_len: number; id: number; df: boolean; mf: boolean; frag_offset: number; ttl: number; proto: number; checksum: string; src: string; dst: string }
interface SidecarFrame {
  index: number;
  caplen: number;
  outer_ip: { src: string; dst: string; ttl: number; total_len: number };
  outer_udp: { sport: number; dport: number; length: number; checksum: string };
  vxlan: { vni: number; header_hex: string };
  inner_frame_len: number;
  inner_eth: { dst: string; src: string; ethertype: string };
  inner_ip: SidecarIp;
}
interface Sidecar { capture: { vni: number; dstport: number }; frame_count: number; frames: SidecarFrame[] }

const ipStr = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const h16 = (n: number) => `0x${n.toString(16).padStart(4, '0')}`;

function checkInnerFields(inner: Buffer, s: SidecarIp, where: string): void {
  assert.deepEqual(
    {
      version: inner[0]! >> 4, ihl: (inner[0]! & 15) * 4, tos: `0x${inner[1]!.toString(16).padStart(2, '0')}`,
      total_len: inner.readUInt16BE(2), id: inner.readUInt16BE(4), df: (inner[6]! & 0x40) !== 0, mf: (inner[6]! & 0x20) !== 0,
      frag_offset: inner.readUInt16BE(6) & 0x1fff, ttl: inner[8], proto: inner[9], checksum: h16(inner.readUInt16BE(10)),
      src: ipStr(inner, 12), dst: ipStr(inner, 16),
    },
    { version: s.version, ihl: s.ihl, tos: s.tos, total_len: s.total_len, id: s.id, df: s.df, mf: s.mf, frag_offset: s.frag_offset, ttl: s.ttl, proto: s.proto, checksum: s.checksum, src: s.src, dst: s.dst },
    where,
  );
}

const kOffloadOff = ['icmp', 'tcp', 'udp', 'zero-csum', 'vni4096-port4789'].map((n) => `vxlan-${n}-offload-off`);
const kDefault = ['icmp', 'tcp', 'udp', 'zero-csum', 'vni4096-port4789'].map((n) => `vxlan-${n}`);

describe('real kernel flannel.1 frames (test/fixtures)', () => {
  for (const name of kOffloadOff) {
    it(`decodes every frame of ${name} to the captured inner packet and re-encodes it byte for byte`, () => {
      const pcap = readPcap(join(kFixtures, `${name}.pcap`));
      const side = JSON.parse(readFileSync(join(kFixtures, `${name}.json`), 'utf8')) as Sidecar;
      assert.equal(pcap.frames.length, side.frame_count);
      assert.ok(pcap.frames.length >= 5);
      for (const [i, frame] of pcap.frames.entries()) {
        const s = side.frames[i]!;
        const where = `${name} frame ${s.index}`;
        assert.equal(frame.caplen, s.caplen, where);
        const outer = stripOuterUdp(frame.data);
        assert.deepEqual(
          { src: outer.ipSrc, dst: outer.ipDst, sport: outer.sport, dport: outer.dport, len: outer.udpLen, csum: h16(outer.udpChecksum) },
          { src: s.outer_ip.src, dst: s.outer_ip.dst, sport: s.outer_udp.sport, dport: s.outer_udp.dport, len: s.outer_udp.length, csum: s.outer_udp.checksum },
          where,
        );
        const payload = outer.payload;
        assert.equal(payload.subarray(0, 8).toString('hex'), s.vxlan.header_hex, where);
        assert.equal(payload.length, 8 + s.inner_frame_len, where);
        const own = mac(s.inner_eth.dst);
        const peer = mac(s.inner_eth.src);
        const inner = forwarded(codec.vxlanDecap(payload, side.capture.vni, own));
        assert.deepEqual(inner, payload.subarray(22), where); // nothing trimmed or changed
        checkInnerFields(inner, s.inner_ip, where);
        assert.ok(headerValid(inner), where);
        // What weft would send for this packet is what the kernel sent.
        assert.deepEqual(forwarded(codec.vxlanEncap(inner, side.capture.vni, own, peer)), payload, where);
        // The receiving node is the only one that accepts it.
        assert.equal(codec.vxlanDecap(payload, side.capture.vni, peer).verdict, 'badMac', where);
        assert.equal(codec.vxlanDecap(payload, side.capture.vni ^ 1, own).verdict, 'badVni', where);
      }
    });
  }

  for (const name of kDefault) {
    it(`accepts ${name} as captured (partial checksums, GSO-sized frames) with the inner packet intact`, () => {
      const pcap = readPcap(join(kFixtures, `${name}.pcap`));
      const side = JSON.parse(readFileSync(join(kFixtures, `${name}.json`), 'utf8')) as Sidecar;
      let largest = 0;
      for (const [i, frame] of pcap.frames.entries()) {
        const s = side.frames[i]!;
        const payload = stripOuterUdp(frame.data).payload;
        const inner = forwarded(codec.vxlanDecap(payload, side.capture.vni, mac(s.inner_eth.dst)));
        assert.equal(inner.length, s.inner_ip.total_len);
        checkInnerFields(inner, s.inner_ip, `${name} frame ${s.index}`);
        largest = Math.max(largest, inner.length);
      }
      if (name === 'vxlan-tcp') assert.ok(largest > 40000, `largest inner packet ${largest}`); // a GSO super-frame
    });
  }
});

/** A VXLAN payload for `inner` as node A sends it to node B (VNI 1). */
const toB = (inner: Buffer) => Buffer.concat([hex('08 00 00 00 00 00 01 00'), macB, macA, hex('08 00'), inner]);

describe('drop verdicts', () => {
  const good = toB(ipv4({ payload: Buffer.alloc(32, 0x5a) }));
  const withByte = (at: number, value: number) => {
    const b = Buffer.from(good);
    b[at] = value;
    return codec.vxlanDecap(b, 1, macB).verdict;
  };

  it('calls a VXLAN payload truncated at any byte malformed', () => {
    assert.equal(codec.vxlanDecap(good, 1, macB).verdict, 'forward');
    for (let cut = 0; cut < good.length; cut++) {
      assert.equal(codec.vxlanDecap(good.subarray(0, cut), 1, macB).verdict, 'malformed', `cut at ${cut}`);
    }
  });

  it('refuses the G bit, a missing I bit and every reserved bit as bad flags', () => {
    assert.equal(withByte(0, 0x88), 'badFlags'); // GBP
    assert.equal(withByte(0, 0x00), 'badFlags');
    for (let bit = 0; bit < 8; bit++) if (bit !== 3) assert.equal(withByte(0, 0x08 | (1 << bit)), 'badFlags', `flag bit ${bit}`);
    for (const at of [1, 2, 3, 7]) for (let bit = 0; bit < 8; bit++) assert.equal(withByte(at, 1 << bit), 'badFlags', `byte ${at} bit ${bit}`);
  });

  it('refuses a VNI that is not ours', () => {
    assert.equal(withByte(6, 0x02), 'badVni');
    assert.equal(withByte(4, 0x01), 'badVni');
    assert.equal(codec.vxlanDecap(good, 4096, macB).verdict, 'badVni');
  });

  it('refuses an inner destination MAC that is not ours, and frames from our own MAC', () => {
    for (let at = 8; at < 14; at++) assert.equal(withByte(at, good[at]! ^ 0x01), 'badMac', `byte ${at}`);
    assert.equal(withByte(8, 0xff), 'badMac');
    const loop = Buffer.from(good);
    macB.copy(loop, 14);
    assert.equal(codec.vxlanDecap(loop, 1, macB).verdict, 'ownMac');
  });

  it('refuses ARP and other non-IP ethertypes', () => {
    const arp = Buffer.concat([hex('08 00 00 00 00 00 01 00'), macB, macA, hex('08 06'), hex('0001 0800 06 04 0001'), macA, hex('0af40100'), Buffer.alloc(6), hex('0af40200')]);
    assert.equal(codec.vxlanDecap(arp, 1, macB).verdict, 'notIp');
    for (const type of [0x8100, 0x88cc, 0x0000]) {
      const b = Buffer.from(good);
      b.writeUInt16BE(type, 20);
      assert.equal(codec.vxlanDecap(b, 1, macB).verdict, 'notIp', `ethertype ${type.toString(16)}`);
    }
  });

  it('refuses a bad IP version, IHL or total length behind the headers', () => {
    assert.equal(withByte(22, 0x65), 'malformed'); // version 6 under ethertype IPv4
    assert.equal(withByte(22, 0x35), 'malformed');
    assert.equal(withByte(22, 0x44), 'malformed'); // IHL 4
    assert.equal(withByte(22, 0x4f), 'malformed'); // 60-byte header in a 52-byte packet
    assert.equal(withByte(24, 0x7f), 'malformed'); // total length beyond the frame
    const short = Buffer.from(good);
    short.writeUInt16BE(19, 24);
    assert.equal(codec.vxlanDecap(short, 1, macB).verdict, 'malformed'); // total length below the header
    const v6 = Buffer.from(good);
    v6.writeUInt16BE(0x86dd, 20);
    assert.equal(codec.vxlanDecap(v6, 1, macB).verdict, 'malformed'); // IPv4 bytes under ethertype IPv6
  });

  it('drops TTL 0 and 1 on the udp backend, both sending and receiving, and malformed datagrams', () => {
    for (const ttl of [0, 1]) {
      assert.equal(codec.udpEncap(ipv4({ ttl })).verdict, 'ttlExpired', `send TTL ${ttl}`);
      assert.equal(codec.udpDecap(ipv4({ ttl })).verdict, 'ttlExpired', `receive TTL ${ttl}`);
    }
    assert.equal(codec.udpDecap(ipv4({ ttl: 2 })).packet?.[8], 1);
    const p = ipv4({});
    for (let cut = 0; cut < p.length; cut++) assert.equal(codec.udpDecap(p.subarray(0, cut)).verdict, 'malformed', `cut at ${cut}`);
    const v6 = Buffer.from(p);
    v6[0] = 0x65;
    assert.equal(codec.udpDecap(v6).verdict, 'malformed');
  });
});

// ---- properties --------------------------------------------------------------

const arbIpv4 = fc
  .record({
    ihl: fc.integer({ min: 5, max: 15 }),
    ttl: fc.integer({ min: 0, max: 255 }),
    proto: fc.integer({ min: 0, max: 255 }),
    src: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    dst: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    payload: fc.uint8Array({ maxLength: 1500 }),
  })
  .map((r) => ipv4({ ihl: r.ihl, ttl: r.ttl, proto: r.proto, src: [...r.src], dst: [...r.dst], payload: Buffer.from(r.payload) }));

// A non-empty payload (no jumbograms) behind no extension header: next
// header 59 ("no next header"), 6 or 17 (extension chains are tested natively).
const arbIpv6 = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 1500 }), fc.constantFrom(59, 6, 17)).chain(([payload, nh]) =>
  fc.uint8Array({ minLength: 40, maxLength: 40 }).map((h) => {
    const p = Buffer.concat([Buffer.from(h), Buffer.from(payload)]);
    p[0] = 0x60 | (p[0]! & 0x0f);
    p.writeUInt16BE(payload.length, 4);
    p[6] = nh;
    return p;
  }),
);

const arbMac = fc.uint8Array({ minLength: 6, maxLength: 6 }).map((m) => {
  const b = Buffer.from(m);
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  return b;
});

const kVerdicts = new Set(['forward', 'malformed', 'badFlags', 'badVni', 'badMac', 'ownMac', 'notIp', 'ttlExpired']);

describe('properties', () => {
  it('round-trips random IPv4 and IPv6 packets through VXLAN encap and decap unchanged', () => {
    fc.assert(
      fc.property(fc.oneof(arbIpv4, arbIpv6), fc.integer({ min: 0, max: 0xffffff }), arbMac, arbMac, (pkt, vni, peer, own) => {
        fc.pre(!peer.equals(own));
        const wire = forwarded(codec.vxlanEncap(pkt, vni, peer, own));
        assert.equal(wire.length, pkt.length + 22);
        assert.deepEqual(forwarded(codec.vxlanDecap(wire, vni, peer)), pkt);
      }),
      { numRuns: 1500 },
    );
  });

  it('lowers the TTL by exactly 2 across udp encap and decap and keeps the header checksum valid', () => {
    fc.assert(
      fc.property(arbIpv4, (pkt) => {
        const ttl = pkt[8]!;
        const sent = codec.udpEncap(pkt);
        if (ttl <= 1) return assert.equal(sent.verdict, 'ttlExpired');
        const wire = forwarded(sent);
        const got = codec.udpDecap(wire);
        if (ttl === 2) return assert.equal(got.verdict, 'ttlExpired');
        const out = forwarded(got);
        assert.equal(out[8], ttl - 2);
        assert.ok(headerValid(out));
        out[8] = ttl;
        out.writeUInt16BE(pkt.readUInt16BE(10), 10);
        assert.deepEqual(out, pkt); // nothing else changed
      }),
      { numRuns: 3000 },
    );
  });

  it('never crashes on garbage and answers forward or a named drop', () => {
    const vxlanLike = fc.uint8Array({ maxLength: 200 }).map((tail) => Buffer.concat([hex('08 00 00 00 00 00 01 00'), macB, macA, Buffer.from(tail)]));
    const garbage = fc.oneof(fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), vxlanLike);
    fc.assert(
      fc.property(garbage, (g) => {
        for (const r of [codec.vxlanDecap(g, 1, macB), codec.udpDecap(g), codec.udpEncap(g), codec.vxlanEncap(g, 1, macB, macA)]) {
          assert.ok(kVerdicts.has(r.verdict), r.verdict);
          if (r.verdict === 'forward') assert.ok(Buffer.isBuffer(r.packet));
        }
        const u = codec.netUnreachable(g, 0x0af40100);
        assert.ok(u === null || (u.length >= 48 && u[9] === 1));
      }),
      { numRuns: 20000 },
    );
  });
});
