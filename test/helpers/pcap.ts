// A small reader for classic pcap files (not pcapng) with the Ethernet link
// type, and for the outer Ethernet / IPv4 / UDP headers of captured VXLAN
// frames (IPv4 and IPv6 underlays), and a capture in a namespace. Written
// for the fixtures in test/fixtures; it refuses what it
// does not understand rather than guessing.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Netns } from './netns';

export interface PcapFrame {
  /** 1-based, as tcpdump and the fixture sidecars number frames. */
  index: number;
  /** Bytes captured (data.length) and the frame's length on the wire. */
  caplen: number;
  length: number;
  data: Buffer;
}

export interface Pcap {
  littleEndian: boolean;
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
  frames: PcapFrame[];
}

const kLinktypeEthernet = 1;

export function parsePcap(buf: Buffer): Pcap {
  if (buf.length < 24) throw new Error('pcap: shorter than its 24-byte global header');
  const magicLe = buf.readUInt32LE(0);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (magicLe === 0xa1b2c3d4 || magicLe === 0xa1b23c4d) {
    littleEndian = true;
    nanoseconds = magicLe === 0xa1b23c4d;
  } else if (buf.readUInt32BE(0) === 0xa1b2c3d4 || buf.readUInt32BE(0) === 0xa1b23c4d) {
    littleEndian = false;
    nanoseconds = buf.readUInt32BE(0) === 0xa1b23c4d;
  } else {
    throw new Error(`pcap: unknown magic 0x${magicLe.toString(16)} (pcapng is not supported)`);
  }
  const u16 = (o: number) => (littleEndian ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const u32 = (o: number) => (littleEndian ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const pcap: Pcap = {
    littleEndian,
    nanoseconds,
    versionMajor: u16(4),
    versionMinor: u16(6),
    snaplen: u32(16),
    linktype: u32(20) & 0x0fffffff,
    frames: [],
  };
  if (pcap.linktype !== kLinktypeEthernet) throw new Error(`pcap: link type ${pcap.linktype}, expected Ethernet (1)`);
  let off = 24;
  while (off < buf.length) {
    if (off + 16 > buf.length) throw new Error(`pcap: truncated record header at byte ${off}`);
    const caplen = u32(off + 8);
    const length = u32(off + 12);
    if (caplen > pcap.snaplen || off + 16 + caplen > buf.length) throw new Error(`pcap: record at byte ${off} overruns the file`);
    pcap.frames.push({ index: pcap.frames.length + 1, caplen, length, data: buf.subarray(off + 16, off + 16 + caplen) });
    off += 16 + caplen;
  }
  return pcap;
}

export function readPcap(path: string): Pcap {
  return parsePcap(readFileSync(path));
}

/** The outer headers of a VXLAN-in-UDP-in-IPv4-in-Ethernet frame and its UDP payload. */
export interface OuterUdp {
  ethDst: Buffer;
  ethSrc: Buffer;
  ipSrc: string;
  ipDst: string;
  ttl: number;
  ipTotalLen: number;
  sport: number;
  dport: number;
  udpLen: number;
  udpChecksum: number;
  /** Exactly the UDP payload (outer IP/UDP lengths honoured, trailing padding dropped). */
  payload: Buffer;
}

const ip4 = (b: Buffer, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** Strips Ethernet (no VLAN tag), IPv4 (any IHL, not fragmented) and UDP; throws on anything else. */
export function stripOuterUdp(frame: Buffer): OuterUdp {
  if (frame.length < 14 + 20 + 8) throw new Error('frame too short for Ethernet + IPv4 + UDP');
  if (frame.readUInt16BE(12) !== 0x0800) throw new Error(`outer ethertype 0x${frame.readUInt16BE(12).toString(16)} is not IPv4`);
  const ip = frame.subarray(14);
  if (ip[0]! >> 4 !== 4) throw new Error('outer IP version is not 4');
  const ihl = (ip[0]! & 0x0f) * 4;
  const total = ip.readUInt16BE(2);
  if (ihl < 20 || total < ihl + 8 || total > ip.length) throw new Error('outer IPv4 lengths are inconsistent');
  if ((ip.readUInt16BE(6) & 0x3fff) !== 0) throw new Error('outer IPv4 packet is a fragment');
  if (ip[9] !== 17) throw new Error(`outer IP protocol ${ip[9]} is not UDP`);
  const udp = ip.subarray(ihl, total);
  const udpLen = udp.readUInt16BE(4);
  if (udpLen < 8 || udpLen > udp.length) throw new Error('outer UDP length is inconsistent');
  return {
    ethDst: frame.subarray(0, 6),
    ethSrc: frame.subarray(6, 12),
    ipSrc: ip4(ip, 12),
    ipDst: ip4(ip, 16),
    ttl: ip[8]!,
    ipTotalLen: total,
    sport: udp.readUInt16BE(0),
    dport: udp.readUInt16BE(2),
    udpLen,
    udpChecksum: udp.readUInt16BE(6),
    payload: udp.subarray(8, udpLen),
  };
}

/** The outer headers of a VXLAN-in-UDP-in-IPv6-in-Ethernet frame and its UDP payload. */
export interface OuterUdp6 {
  ethDst: Buffer;
  ethSrc: Buffer;
  /** The outer IPv6 header (40 bytes) as captured. */
  ip: Buffer;
  ipSrc: Buffer;
  ipDst: Buffer;
  trafficClass: number;
  flowLabel: number;
  hopLimit: number;
  payloadLen: number;
  sport: number;
  dport: number;
  udpLen: number;
  udpChecksum: number;
  /** The whole UDP datagram (header + payload). */
  udp: Buffer;
  payload: Buffer;
}

/** Strips Ethernet (no VLAN tag), IPv6 (no extension headers) and UDP; throws on anything else. */
export function stripOuterUdp6(frame: Buffer): OuterUdp6 {
  if (frame.length < 14 + 40 + 8) throw new Error('frame too short for Ethernet + IPv6 + UDP');
  if (frame.readUInt16BE(12) !== 0x86dd) throw new Error(`outer ethertype 0x${frame.readUInt16BE(12).toString(16)} is not IPv6`);
  const ip = frame.subarray(14);
  if (ip[0]! >> 4 !== 6) throw new Error('outer IP version is not 6');
  if (ip[6] !== 17) throw new Error(`outer next header ${ip[6]} is not UDP`);
  const payloadLen = ip.readUInt16BE(4);
  if (40 + payloadLen > ip.length) throw new Error('outer IPv6 payload length overruns the frame');
  const udp = ip.subarray(40, 40 + payloadLen);
  const udpLen = udp.readUInt16BE(4);
  if (udpLen !== payloadLen) throw new Error('outer UDP length differs from the IPv6 payload length');
  const word = ip.readUInt32BE(0);
  return {
    ethDst: frame.subarray(0, 6),
    ethSrc: frame.subarray(6, 12),
    ip: ip.subarray(0, 40),
    ipSrc: ip.subarray(8, 24),
    ipDst: ip.subarray(24, 40),
    trafficClass: (word >>> 20) & 0xff,
    flowLabel: word & 0xfffff,
    hopLimit: ip[7]!,
    payloadLen,
    sport: udp.readUInt16BE(0),
    dport: udp.readUInt16BE(2),
    udpLen,
    udpChecksum: udp.readUInt16BE(6),
    udp,
    payload: udp.subarray(8, udpLen),
  };
}

/** RFC 1071 over `parts` (each even-length but the last), folded and inverted: an independent reference. */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  const all = Buffer.concat(parts);
  for (let i = 0; i + 1 < all.length; i += 2) sum += all.readUInt16BE(i);
  if (all.length & 1) sum += all[all.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The upper-layer checksum over IPv6 (RFC 8200 8.1) of `l4` (its checksum field included as is). */
export function ipv6L4Checksum(src: Buffer, dst: Buffer, proto: number, l4: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(l4.length, 32);
  pseudo[39] = proto;
  return internetChecksum(pseudo, l4);
}

/**
 * A packet capture in a namespace, the way tcpdump would take it but with
 * nothing to install: a stdlib Python AF_PACKET socket on `dev` keeping the
 * frames (both directions) that `filter` selects, written as a classic pcap
 * (little-endian, µs, Ethernet) when stop() is called.
 */
export interface Capture {
  stop(): Promise<Pcap>;
}

const kCaptureScript = String.raw`
import socket, struct, sys, time, select
dev, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((dev, 0))
f = open(out, 'wb')
f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
print('ready', flush=True)
while True:
    r, _, _ = select.select([s, sys.stdin], [], [])
    if sys.stdin in r:
        break
    d = s.recv(262144)
    if len(d) < 14: continue
    et = struct.unpack('!H', d[12:14])[0]
    if et == 0x86dd and len(d) >= 62 and d[20] == 17: sp, dp = struct.unpack('!HH', d[54:58])
    elif et == 0x0800 and len(d) >= 42 and d[23] == 17:
        ihl = (d[14] & 15) * 4
        sp, dp = struct.unpack('!HH', d[14 + ihl:18 + ihl])
    else: continue
    if port not in (sp, dp): continue
    t = time.time()
    f.write(struct.pack('<IIII', int(t), int((t % 1) * 1e6), len(d), len(d)) + d)
f.close()
print('done', flush=True)
`;

/** Starts capturing UDP frames to or from `port` on `dev` in `ns`, into `path`. */
export async function startCapture(ns: Netns, dev: string, port: number, path: string): Promise<Capture> {
  const child = ns.spawn('python3', ['-c', kCaptureScript, dev, String(port), path]);
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve());
    child.once('exit', (code) => reject(new Error(`capture exited with ${code}`)));
  });
  return {
    async stop(): Promise<Pcap> {
      const done = new Promise<void>((resolve) => lines.once('line', () => resolve()));
      child.stdin!.end();
      await done;
      return readPcap(path);
    },
  };
}
