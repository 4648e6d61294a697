// A small reader for classic pcap files (not pcapng) with the Ethernet link
// type, and for the outer Ethernet / IPv4 / UDP headers of captured VXLAN
// frames. Written for the fixtures in test/fixtures; it refuses what it
// does not understand rather than guessing.

import { readFileSync } from 'node:fs';

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
