// IPv6 packets (TCP, UDP, extension headers) built and checked by hand for
// the offload tests, beside test/helpers/tcpip.ts's IPv4 ones (same RFC 1071
// sum, same TCP flag and option helpers). The pseudo-header is RFC 8200 §8.1
// written out here, never the code under test.

import { type TcpHeaderFields, type UdpHeaderFields, kTcp, kUdp, sum16, tcpSegment, udpDatagram } from './tcpip';

export interface Ipv6Fields {
  /** 16 bytes; default fd00:10:244:1::5 */
  src?: number[] | undefined;
  /** 16 bytes; default fd00:10:244:2::7 */
  dst?: number[] | undefined;
  trafficClass?: number | undefined;
  /** 20 bits */
  flowLabel?: number | undefined;
  hopLimit?: number | undefined;
  /**
   * Extension headers between the IPv6 header and L4, as [next-header number
   * of this header, its bytes]; the bytes' first octet (its own next header) is
   * filled in here.
   */
  ext?: [number, Buffer][] | undefined;
}

export interface Tcp6Fields extends Ipv6Fields, TcpHeaderFields {}

export const v6 = (groups: number[]): number[] => groups.flatMap((g) => [(g >> 8) & 0xff, g & 0xff]);
const kSrc = v6([0xfd00, 0x10, 0x244, 1, 0, 0, 0, 5]);
const kDst = v6([0xfd00, 0x10, 0x244, 2, 0, 0, 0, 7]);

/** A hop-by-hop or destination options header of `len` bytes (a multiple of 8) padded with PadN. */
export function optionsHeader(len = 8): Buffer {
  const b = Buffer.alloc(len);
  b[1] = len / 8 - 1;
  b[2] = 1; // PadN
  b[3] = len - 4;
  return b;
}

/** A 24-byte segment routing header (type 4) with one segment and `segmentsLeft` of it still to visit. */
export function routingHeader(segmentsLeft: number): Buffer {
  const b = Buffer.alloc(24);
  b[1] = 2;
  b[2] = 4;
  b[3] = segmentsLeft;
  return b;
}

/** The L4 header's offset (40 plus hop-by-hop, routing, fragment and destination options headers) and protocol. */
export function upper6(pkt: Buffer): { off: number; proto: number } {
  let next = pkt[6]!;
  let off = 40;
  while (next === 0 || next === 43 || next === 60 || next === 44) {
    const len = next === 44 ? 8 : (pkt[off + 1]! + 1) * 8;
    next = pkt[off]!;
    off += len;
  }
  return { off, proto: next };
}

function ip6(o: Ipv6Fields, proto: number, l4: Buffer): Buffer {
  const ext = o.ext ?? [];
  const h = Buffer.alloc(40);
  h.writeUInt32BE(((6 << 28) | ((o.trafficClass ?? 0) << 20) | ((o.flowLabel ?? 0x12345) & 0xfffff)) >>> 0, 0);
  h[6] = ext.length > 0 ? ext[0]![0] : proto;
  h[7] = o.hopLimit ?? 64;
  Buffer.from(o.src ?? kSrc).copy(h, 8);
  Buffer.from(o.dst ?? kDst).copy(h, 24);
  const exts = ext.map(([, b], i) => {
    const c = Buffer.from(b);
    c[0] = i + 1 < ext.length ? ext[i + 1]![0] : proto;
    return c;
  });
  const pkt = Buffer.concat([h, ...exts, l4]);
  pkt.writeUInt16BE(pkt.length - 40, 4);
  return pkt;
}

/** Pseudo-header sum (addresses, 32-bit upper-layer length, next header), folded, not inverted. */
export function pseudoSum6(pkt: Buffer, l4Len: number, proto = upper6(pkt).proto): number {
  const p = Buffer.alloc(40);
  pkt.copy(p, 0, 8, 40);
  p.writeUInt32BE(l4Len, 32);
  p[39] = proto;
  return sum16(p);
}

/** Recomputes the TCP/UDP checksum of an IPv6 packet (UDP: 0 sent as 0xffff). */
export function fixL4Checksum6(pkt: Buffer): Buffer {
  const { off, proto } = upper6(pkt);
  const l4 = pkt.subarray(off, 40 + pkt.readUInt16BE(4));
  const at = proto === kTcp ? 16 : 6;
  l4.writeUInt16BE(0, at);
  let c = ~sum16(l4, pseudoSum6(pkt, l4.length, proto)) & 0xffff;
  if (proto === kUdp && c === 0) c = 0xffff;
  l4.writeUInt16BE(c, at);
  return pkt;
}

/** What the kernel leaves in a NEEDS_CSUM packet's L4 field: the pseudo-header sum only. */
export function partialChecksum6(pkt: Buffer): Buffer {
  const { off, proto } = upper6(pkt);
  pkt.writeUInt16BE(pseudoSum6(pkt, 40 + pkt.readUInt16BE(4) - off, proto), off + (proto === kTcp ? 16 : 6));
  return pkt;
}

/** True when the TCP/UDP checksum over the IPv6 pseudo-header, header and payload verifies. */
export function l4ChecksumOk6(pkt: Buffer): boolean {
  const { off } = upper6(pkt);
  const l4 = pkt.subarray(off, 40 + pkt.readUInt16BE(4));
  return sum16(l4, pseudoSum6(pkt, l4.length)) === 0xffff;
}

/** An IPv6 TCP packet with a valid checksum. */
export function tcp6(o: Tcp6Fields = {}): Buffer {
  return fixL4Checksum6(ip6(o, kTcp, tcpSegment(o)));
}

/** An IPv6 UDP packet with a valid checksum. */
export function udp6(o: Ipv6Fields & UdpHeaderFields = {}): Buffer {
  return fixL4Checksum6(ip6(o, kUdp, udpDatagram(o)));
}

/** The header fields the tests look at. */
export interface Parsed6 {
  payloadLen: number;
  firstWord: number;
  hopLimit: number;
  l4Off: number;
  l4Hdr: number;
  seq: number;
  ack: number;
  flags: number;
  l4Check: number;
  udpLen: number;
  payload: Buffer;
}

export function parse6(pkt: Buffer): Parsed6 {
  const { off: l4Off, proto } = upper6(pkt);
  const isTcp = proto === kTcp;
  const l4Hdr = isTcp ? (pkt[l4Off + 12]! >> 4) * 4 : 8;
  return {
    payloadLen: pkt.readUInt16BE(4),
    firstWord: pkt.readUInt32BE(0),
    hopLimit: pkt[7]!,
    l4Off,
    l4Hdr,
    seq: isTcp ? pkt.readUInt32BE(l4Off + 4) : 0,
    ack: isTcp ? pkt.readUInt32BE(l4Off + 8) : 0,
    flags: isTcp ? pkt[l4Off + 13]! : 0,
    l4Check: pkt.readUInt16BE(l4Off + (isTcp ? 16 : 6)),
    udpLen: isTcp ? 0 : pkt.readUInt16BE(l4Off + 4),
    payload: pkt.subarray(l4Off + l4Hdr, 40 + pkt.readUInt16BE(4)),
  };
}
