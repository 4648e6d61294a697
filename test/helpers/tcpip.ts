// The tests' one packet builder: IPv4 (raw payload, ICMP echo, TCP, UDP)
// packets built and checked by hand for the codec, offload and hostile-input
// tests, plus MAC and hex helpers. Checksums here are RFC 1071 as written:
// 16-bit big-endian words, an odd byte padded with zero, carries folded. They
// never call the code under test, so a checksum that verifies here was not
// merely agreed with.

/** One's-complement sum of `b` added to `init`, folded to 16 bits, not inverted. */
export function sum16(b: Buffer, init = 0): number {
  let sum = init;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) sum += b[b.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for `b` (inverted fold). */
export const checksum = (b: Buffer, init = 0): number => ~sum16(b, init) & 0xffff;

export const kIcmp = 1;
export const kTcp = 6;
export const kUdp = 17;
export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80 } as const;

export interface Ipv4Fields {
  src?: number[] | undefined;
  dst?: number[] | undefined;
  tos?: number | undefined;
  id?: number | undefined;
  /** flags + fragment offset word; 0x4000 = DF */
  fragOff?: number | undefined;
  ttl?: number | undefined;
  /** IP options (a multiple of 4 bytes) */
  ipOptions?: Buffer | undefined;
}

/** The TCP header and payload, either family's. */
export interface TcpHeaderFields {
  sport?: number;
  dport?: number;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  /** byte 12's low nibble (reserved bits, AccECN's AE) */
  reserved?: number;
  /** TCP options (a multiple of 4 bytes) */
  options?: Buffer;
  payload?: Buffer;
}

export interface TcpFields extends Ipv4Fields, TcpHeaderFields {}

export interface UdpHeaderFields {
  sport?: number;
  dport?: number;
  payload?: Buffer;
}

/** A TCP header (checksum left 0) and its payload, for tcp4 and tcpip6's tcp6. */
export function tcpSegment(o: TcpHeaderFields): Buffer {
  const options = o.options ?? Buffer.alloc(0);
  const t = Buffer.alloc(20 + options.length);
  t.writeUInt16BE(o.sport ?? 40000, 0);
  t.writeUInt16BE(o.dport ?? 5201, 2);
  t.writeUInt32BE((o.seq ?? 1000) >>> 0, 4);
  t.writeUInt32BE((o.ack ?? 77) >>> 0, 8);
  t[12] = ((t.length / 4) << 4) | (o.reserved ?? 0);
  t[13] = o.flags ?? TCP.ACK;
  t.writeUInt16BE(o.window ?? 502, 14);
  options.copy(t, 20);
  return Buffer.concat([t, o.payload ?? Buffer.alloc(0)]);
}

/** A UDP header (checksum left 0) and its payload, for udp4 and tcpip6's udp6. */
export function udpDatagram(o: UdpHeaderFields): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  const u = Buffer.alloc(8);
  u.writeUInt16BE(o.sport ?? 40000, 0);
  u.writeUInt16BE(o.dport ?? 5201, 2);
  u.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([u, payload]);
}

/** NOP, NOP, timestamps (kind 8): the 12 option bytes Linux puts on every data segment. */
export function timestamps(tsval: number, tsecr: number): Buffer {
  const b = Buffer.alloc(12);
  b[0] = 1;
  b[1] = 1;
  b[2] = 8;
  b[3] = 10;
  b.writeUInt32BE(tsval >>> 0, 4);
  b.writeUInt32BE(tsecr >>> 0, 8);
  return b;
}

/** `n` bytes of IP options: NOPs ending in an End-of-Options byte. */
export function ipNops(n: number): Buffer {
  const b = Buffer.alloc(n, 1);
  if (n > 0) b[n - 1] = 0;
  return b;
}

/** A payload of `n` bytes whose content depends on `seed` and the position. */
export function pattern(n: number, seed = 0): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

function ipHeader(o: Ipv4Fields, proto: number, l4Len: number): Buffer {
  const opts = o.ipOptions ?? Buffer.alloc(0);
  const ihl = 20 + opts.length;
  const h = Buffer.alloc(ihl);
  h[0] = 0x40 | (ihl / 4);
  h[1] = o.tos ?? 0;
  h.writeUInt16BE(ihl + l4Len, 2);
  h.writeUInt16BE((o.id ?? 0x1234) & 0xffff, 4);
  h.writeUInt16BE(o.fragOff ?? 0x4000, 6);
  h[8] = o.ttl ?? 64;
  h[9] = proto;
  Buffer.from(o.src ?? [10, 244, 1, 5]).copy(h, 12);
  Buffer.from(o.dst ?? [10, 244, 2, 7]).copy(h, 16);
  opts.copy(h, 20);
  h.writeUInt16BE(checksum(h), 10);
  return h;
}

/** An IPv4 packet carrying `payload` as protocol `proto` (default UDP; no L4 header is built), valid header checksum. */
export function ipv4(o: Ipv4Fields & { proto?: number; payload?: Buffer } = {}): Buffer {
  const payload = o.payload ?? Buffer.alloc(0);
  return Buffer.concat([ipHeader(o, o.proto ?? kUdp, payload.length), payload]);
}

/** An ICMP echo request (id 0x7765, seq 1, `dataLen` data bytes, default 8) with valid checksums. */
export function icmpEcho(o: Ipv4Fields & { dataLen?: number | undefined } = {}): Buffer {
  const icmp = Buffer.alloc(8 + (o.dataLen ?? 8));
  icmp[0] = 8;
  icmp.writeUInt16BE(0x7765, 4);
  icmp.writeUInt16BE(1, 6);
  for (let i = 8; i < icmp.length; i++) icmp[i] = i & 0xff;
  icmp.writeUInt16BE(checksum(icmp), 2);
  return ipv4({ ...o, proto: kIcmp, payload: icmp });
}

/** `aa:bb:cc:dd:ee:ff` → 6 bytes. */
export const mac = (text: string): Buffer => Buffer.from(text.replace(/:/g, ''), 'hex');

/** Hex text (whitespace ignored) → bytes. */
export const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ''), 'hex');

/** Dotted-quad text → the 4 octets. */
export const octets = (text: string): number[] => text.split('.').map(Number);

/** Pseudo-header sum (addresses, protocol, L4 length) of an IPv4 packet, folded, not inverted. */
export function pseudoSum(pkt: Buffer, l4Len: number): number {
  const p = Buffer.alloc(12);
  pkt.copy(p, 0, 12, 20);
  p[9] = pkt[9]!;
  p.writeUInt16BE(l4Len, 10);
  return sum16(p);
}

/** An IPv4 TCP packet with valid header and TCP checksums. */
export function tcp4(o: TcpFields = {}): Buffer {
  const l4 = tcpSegment(o);
  return fixL4Checksum(Buffer.concat([ipHeader(o, kTcp, l4.length), l4]));
}

/** An IPv4 UDP packet with valid header and UDP checksums. */
export function udp4(o: Ipv4Fields & UdpHeaderFields = {}): Buffer {
  const l4 = udpDatagram(o);
  return fixL4Checksum(Buffer.concat([ipHeader(o, kUdp, l4.length), l4]));
}

/** Recomputes the IPv4 header checksum after a field was edited. */
export function fixIpChecksum(pkt: Buffer): Buffer {
  const ihl = (pkt[0]! & 15) * 4;
  pkt.writeUInt16BE(0, 10);
  pkt.writeUInt16BE(checksum(pkt.subarray(0, ihl)), 10);
  return pkt;
}

/** Recomputes the TCP/UDP checksum (UDP: 0 sent as 0xffff). */
export function fixL4Checksum(pkt: Buffer): Buffer {
  const ihl = (pkt[0]! & 15) * 4;
  const l4 = pkt.subarray(ihl, pkt.readUInt16BE(2));
  const at = pkt[9] === kTcp ? 16 : 6;
  l4.writeUInt16BE(0, at);
  let c = checksum(l4, pseudoSum(pkt, l4.length));
  if (pkt[9] === kUdp && c === 0) c = 0xffff;
  l4.writeUInt16BE(c, at);
  return pkt;
}

/** What the kernel leaves in a NEEDS_CSUM packet's L4 field: the pseudo-header sum only. */
export function partialChecksum(pkt: Buffer): Buffer {
  const ihl = (pkt[0]! & 15) * 4;
  const l4Len = pkt.readUInt16BE(2) - ihl;
  pkt.writeUInt16BE(pseudoSum(pkt, l4Len), ihl + (pkt[9] === kTcp ? 16 : 6));
  return pkt;
}

/** The header fields the tests look at. */
export interface Parsed {
  ihl: number;
  totalLen: number;
  id: number;
  tos: number;
  ttl: number;
  fragOff: number;
  /** bytes of L4 header (TCP data offset * 4, or 8) */
  l4Hdr: number;
  seq: number;
  ack: number;
  flags: number;
  /** the L4 checksum field */
  l4Check: number;
  /** the UDP length field (UDP only) */
  udpLen: number;
  payload: Buffer;
}

export function parse(pkt: Buffer): Parsed {
  const ihl = (pkt[0]! & 15) * 4;
  const totalLen = pkt.readUInt16BE(2);
  const isTcp = pkt[9] === kTcp;
  const l4Hdr = isTcp ? (pkt[ihl + 12]! >> 4) * 4 : 8;
  return {
    ihl,
    totalLen,
    id: pkt.readUInt16BE(4),
    tos: pkt[1]!,
    ttl: pkt[8]!,
    fragOff: pkt.readUInt16BE(6),
    l4Hdr,
    seq: isTcp ? pkt.readUInt32BE(ihl + 4) : 0,
    ack: isTcp ? pkt.readUInt32BE(ihl + 8) : 0,
    flags: isTcp ? pkt[ihl + 13]! : 0,
    l4Check: pkt.readUInt16BE(ihl + (isTcp ? 16 : 6)),
    udpLen: isTcp ? 0 : pkt.readUInt16BE(ihl + 4),
    payload: pkt.subarray(ihl + l4Hdr, totalLen),
  };
}

/** True when the IPv4 header checksum verifies. */
export const ipChecksumOk = (pkt: Buffer): boolean => sum16(pkt.subarray(0, (pkt[0]! & 15) * 4)) === 0xffff;

/** True when the TCP/UDP checksum over the pseudo-header, header and payload verifies. */
export function l4ChecksumOk(pkt: Buffer): boolean {
  const ihl = (pkt[0]! & 15) * 4;
  const l4 = pkt.subarray(ihl, pkt.readUInt16BE(2));
  return sum16(l4, pseudoSum(pkt, l4.length)) === 0xffff;
}
