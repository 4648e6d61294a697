// Hostile input for the end-to-end hardening tests: the classes of bad
// datagrams and TUN packets issue 6 lists, each with the verdict the data
// plane must give it, and the `inject` tool (native/test/inject.cc) that
// sends them from inside a namespace.
//
// Every packet is written out field by field here, never produced by weft's
// own codec, so that a codec bug cannot hide itself.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, underlaySwitch } from './netns';
import type { WeftHost } from './overlay';
import { checksum, icmpEcho as echoRequest, mac, octets } from './tcpip';

export { mac };

export const kRepoRoot = join(__dirname, '..', '..', '..');

/** 'forward' (written to the TUN: tunTxPackets) or the drop counter that must move. */
export type Verdict = 'forward' | string;

export interface PacketClass {
  name: string;
  payloads: Buffer[];
  verdict: Verdict;
}

let injectPath: string | undefined;

/** Builds native/test/inject.cc (g++, -Wall -Wextra -Werror) into native/test/out/. */
export function buildInject(): string {
  if (injectPath) return injectPath;
  const out = join(kRepoRoot, 'native', 'test', 'out');
  mkdirSync(out, { recursive: true });
  const exe = join(out, 'inject');
  execFileSync(
    process.env.CXX ?? 'g++',
    ['-std=c++20', '-Wall', '-Wextra', '-Werror', '-O2', '-o', exe, join(kRepoRoot, 'native', 'test', 'inject.cc')],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  injectPath = exe;
  return exe;
}

/** The record file inject reads: [u32 LE length][bytes] per payload. */
export function writeRecords(path: string, payloads: Buffer[]): void {
  const parts: Buffer[] = [];
  for (const p of payloads) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(p.length);
    parts.push(len, p);
  }
  writeFileSync(path, Buffer.concat(parts));
}

// ------------------------------------------------------------ packet builders

export interface Ipv4Spec {
  src?: string;
  dst?: string;
  ttl?: number;
  /** Option bytes (NOPs) after the 20-byte header; IHL follows. */
  options?: number;
  /** Flags + fragment offset word (default DF). */
  frag?: number;
  /** ICMP echo data bytes (default 8). */
  data?: number;
}

/** An ICMP echo request with correct checksums (default 10.244.2.5 → 10.244.1.5, TTL 64). */
export function icmpEcho(s: Ipv4Spec = {}): Buffer {
  return echoRequest({
    src: octets(s.src ?? '10.244.2.5'),
    dst: octets(s.dst ?? '10.244.1.5'),
    ttl: s.ttl,
    ipOptions: Buffer.alloc(s.options ?? 0, 1),
    fragOff: s.frag,
    dataLen: s.data,
  });
}

/** Rewrites header bytes of an IPv4 packet and fixes its header checksum. */
function patched(pkt: Buffer, edit: (b: Buffer) => void): Buffer {
  const b = Buffer.from(pkt);
  edit(b);
  const hl = Math.min((b[0]! & 0x0f) * 4, b.length);
  if (hl >= 20) {
    b.writeUInt16BE(0, 10);
    b.writeUInt16BE(checksum(b.subarray(0, hl)), 10);
  }
  return b;
}

export interface Frame {
  flags?: number[];
  vni?: number;
  dst: Buffer;
  src: Buffer;
  type?: number;
}

/** VXLAN header + inner Ethernet + body. */
export function vxlan(f: Frame, body: Buffer): Buffer {
  const h = Buffer.alloc(22);
  (f.flags ?? [0x08, 0, 0, 0]).forEach((v, i) => (h[i] = v));
  h.writeUIntBE(f.vni ?? 1, 4, 3);
  f.dst.copy(h, 8);
  f.src.copy(h, 14);
  h.writeUInt16BE(f.type ?? 0x0800, 20);
  return Buffer.concat([h, body]);
}

const kOutside = ['8.8.8.8', '198.18.0.1', '127.0.0.1', '224.0.0.1', '255.255.255.255', '10.245.0.5', '0.0.0.0'];

/** Malformed IPv4 packets (must be dropped as malformed wherever they arrive). */
function badIpv4(): PacketClass[] {
  const good = icmpEcho();
  return [
    {
      name: 'IP version 0,1,2,3,5,6,7,15 under IPv4',
      verdict: 'malformed',
      payloads: [0, 1, 2, 3, 5, 6, 7, 15].map((v) => patched(good, (b) => (b[0] = (v << 4) | 5))),
    },
    {
      name: 'IHL 0..4, and 15 (beyond the total length)',
      verdict: 'malformed',
      payloads: [0, 1, 2, 3, 4, 15].map((ihl) => patched(good, (b) => (b[0] = 0x40 | ihl))),
    },
    {
      name: 'total length 0, 19 (< IHL), 37 and 65535 (> datagram)',
      verdict: 'malformed',
      payloads: [0, 19, 37, 65535].map((t) => patched(good, (b) => b.writeUInt16BE(t, 2))),
    },
  ];
}

/** IPv4 packets that are unusual but valid: forwarded as they are. */
function oddButValid(): PacketClass[] {
  return [
    {
      name: 'IP options (IHL 6..15, NOPs)',
      verdict: 'forward',
      payloads: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((w) => icmpEcho({ options: 4 * w })),
    },
    { name: 'fragments (MF; offset; MF+offset)', verdict: 'forward', payloads: [0x2000, 0x0064, 0x2064].map((frag) => icmpEcho({ frag })) },
    { name: 'trailing bytes after the total length', verdict: 'forward', payloads: [Buffer.concat([icmpEcho(), Buffer.alloc(10, 0xee)])] },
  ];
}

/** The receive-side classes for a vxlan node with VtepMAC `own` whose peer has `peer`. */
export function vxlanClasses(own: Buffer, peer: Buffer): PacketClass[] {
  const good = icmpEcho();
  const frame = (body: Buffer, f: Partial<Frame> = {}): Buffer => vxlan({ dst: own, src: peer, ...f }, body);
  const full = frame(good);
  const truncations: Buffer[] = [];
  for (let n = 2; n < full.length; n++) truncations.push(full.subarray(0, n));
  const flagVariants = [
    [0x88, 0, 0, 0],
    [0x00, 0, 0, 0],
    [0x09, 0, 0, 0],
    [0x0a, 0, 0, 0],
    [0x0c, 0, 0, 0],
    [0x18, 0, 0, 0],
    [0x28, 0, 0, 0],
    [0x48, 0, 0, 0],
    [0x08, 1, 0, 0],
    [0x08, 0, 0x80, 0],
    [0x08, 0, 0, 1],
  ];
  const reservedLast = Buffer.from(full);
  reservedLast[7] = 1;
  const ipv6 = Buffer.alloc(48);
  ipv6[0] = 0x60;
  ipv6.writeUInt16BE(8, 4);
  ipv6[6] = 59; // no next header
  ipv6[7] = 64;
  const arp = Buffer.from('0001080006040001' + '0e2a0af40200' + 'c0a80001' + '000000000000' + 'c0a80002', 'hex');
  const big = icmpEcho({ data: 65507 - 22 - 28 });
  return [
    { name: 'empty datagram', verdict: 'malformed', payloads: [Buffer.alloc(0)] },
    { name: '1-byte datagram', verdict: 'malformed', payloads: [Buffer.from([0x08])] },
    {
      name: `every truncation (2..${full.length - 1} bytes) of VXLAN + Ethernet + IPv4 + ICMP`,
      verdict: 'malformed',
      payloads: truncations,
    },
    ...badIpv4().map((c) => ({ ...c, payloads: c.payloads.map((p) => frame(p)) })),
    ...oddButValid().map((c) => ({ ...c, payloads: c.payloads.map((p) => frame(p)) })),
    {
      name: 'inner TTL 0 and 1 (vxlan leaves TTL to the kernel)',
      verdict: 'forward',
      payloads: [0, 1].map((ttl) => frame(icmpEcho({ ttl }))),
    },
    { name: 'wrong VNI (0, 2, 4096, 0xffffff)', verdict: 'badVni', payloads: [0, 2, 4096, 0xffffff].map((vni) => frame(good, { vni })) },
    {
      name: 'GBP, missing I, other flag bits, reserved bits',
      verdict: 'badFlags',
      payloads: [...flagVariants.map((flags) => frame(good, { flags })), reservedLast],
    },
    {
      name: 'wrong inner destination MAC',
      verdict: 'badMac',
      payloads: ['ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', '01:00:5e:00:00:01']
        .map((m) => frame(good, { dst: mac(m) }))
        .concat([frame(good, { dst: peer }), frame(good, { dst: Buffer.from(own.map((b, i) => (i === 5 ? b ^ 1 : b))) })]),
    },
    { name: 'our own MAC as inner source', verdict: 'ownMac', payloads: [frame(good, { src: own })] },
    {
      name: 'ethertypes ARP, IPv6 (disabled), VLAN, LLDP, 0',
      verdict: 'notIp',
      payloads: [
        frame(arp, { type: 0x0806 }),
        frame(ipv6, { type: 0x86dd }),
        frame(good, { type: 0x8100 }),
        frame(good, { type: 0x88cc }),
        frame(good, { type: 0 }),
      ],
    },
    { name: '64 KB datagram: valid VXLAN, 65,485-byte inner ICMP', verdict: 'forward', payloads: [frame(big)] },
    { name: '64 KB datagram of garbage', verdict: 'badFlags', payloads: [Buffer.alloc(65507, 0xde)] },
    {
      name: '64 KB datagram whose inner total length exceeds it',
      verdict: 'malformed',
      payloads: [frame(patched(big, (b) => b.writeUInt16BE(65535, 2))).subarray(0, 65000)],
    },
    {
      name: `inner destination outside the network (${kOutside.join(', ')})`,
      verdict: 'badDestination',
      payloads: kOutside.map((dst) => frame(icmpEcho({ dst }))),
    },
    { name: 'well-formed frames (control)', verdict: 'forward', payloads: [frame(good), frame(icmpEcho({ data: 1000 }))] },
  ];
}

/** The receive-side classes for a udp-backend node (payload = bare inner IPv4). */
export function udpClasses(): PacketClass[] {
  const good = icmpEcho();
  const truncations: Buffer[] = [];
  for (let n = 2; n < good.length; n++) truncations.push(good.subarray(0, n));
  const big = icmpEcho({ data: 65507 - 28 });
  return [
    { name: 'empty datagram', verdict: 'malformed', payloads: [Buffer.alloc(0)] },
    { name: '1-byte datagram', verdict: 'malformed', payloads: [Buffer.from([0x45])] },
    { name: `every truncation (2..${good.length - 1} bytes) of IPv4 + ICMP`, verdict: 'malformed', payloads: truncations },
    ...badIpv4(),
    ...oddButValid(),
    { name: 'inner TTL 0 and 1', verdict: 'ttlExpired', payloads: [0, 1].map((ttl) => icmpEcho({ ttl })) },
    { name: 'inner TTL 2 (arrives with 1)', verdict: 'forward', payloads: [icmpEcho({ ttl: 2 })] },
    { name: 'an IPv6 packet', verdict: 'malformed', payloads: [Buffer.concat([Buffer.from([0x60]), Buffer.alloc(47)])] },
    { name: '64 KB datagram: 65,507-byte inner ICMP', verdict: 'forward', payloads: [big] },
    { name: '64 KB datagram of garbage', verdict: 'malformed', payloads: [Buffer.alloc(65507, 0xde)] },
    {
      name: '64 KB datagram whose total length exceeds it',
      verdict: 'malformed',
      payloads: [patched(big, (b) => b.writeUInt16BE(65535, 2)).subarray(0, 65000)],
    },
    {
      name: `inner destination outside the network (${kOutside.join(', ')})`,
      verdict: 'badDestination',
      payloads: kOutside.map((dst) => icmpEcho({ dst })),
    },
    { name: 'well-formed packets (control)', verdict: 'forward', payloads: [good, icmpEcho({ data: 1000 })] },
  ];
}

/** Packets the kernel transmits through the TUN, as the data plane then reads them. */
export function tunClasses(): PacketClass[] {
  const good = icmpEcho({ src: '10.244.1.5', dst: '10.244.2.5' });
  const bad = (edit: (b: Buffer) => void): Buffer => patched(good, edit);
  return [
    { name: 'tiny packets (1, 2, 10, 19 bytes)', verdict: 'malformed', payloads: [1, 2, 10, 19].map((n) => good.subarray(0, n)) },
    {
      name: 'bad version, IHL, total length',
      verdict: 'malformed',
      payloads: [
        bad((b) => (b[0] = 0x55)),
        bad((b) => (b[0] = 0x43)),
        bad((b) => b.writeUInt16BE(200, 2)),
        bad((b) => b.writeUInt16BE(10, 2)),
      ],
    },
    {
      name: 'destination without a lease (10.244.77.5): ICMP net unreachable back',
      verdict: 'noRoute',
      payloads: [icmpEcho({ src: '10.244.1.5', dst: '10.244.77.5' })],
    },
    {
      name: 'destinations outside the network (203.0.113.5, 8.8.8.8)',
      verdict: 'noRoute',
      payloads: ['203.0.113.5', '8.8.8.8'].map((dst) => icmpEcho({ src: '10.244.1.5', dst })),
    },
    {
      name: 'an IPv6 packet (no IPv6 overlay)',
      verdict: 'noRoute',
      payloads: [Buffer.concat([Buffer.from([0x60, 0, 0, 0, 0, 0, 59, 64]), Buffer.alloc(32)])],
    },
  ];
}

/**
 * Three hosts on one underlay switch (198.18.0.1 A, .2 B, .3 C) with pods
 * 10.244.1.5 on A and 10.244.2.5 on B; A and B get data planes later, C is
 * the third party that throws traffic at them.
 */
export interface ThreeHosts {
  sw: Netns;
  a: Netns;
  b: Netns;
  c: Netns;
  hostA?: WeftHost;
  hostB?: WeftHost;
  dir: string;
}

export function threeHosts(label: string): ThreeHosts {
  const lab: ThreeHosts = {
    sw: new Netns(`${label}sw`),
    a: new Netns(`${label}a`),
    b: new Netns(`${label}b`),
    c: new Netns(`${label}c`),
    dir: mkdtempSync(join(tmpdir(), `weft-${label}-`)),
  };
  underlaySwitch(lab.sw, [lab.a, lab.b, lab.c]);
  lab.a.ip('addr', 'add', '10.244.1.5/32', 'dev', 'lo');
  lab.b.ip('addr', 'add', '10.244.2.5/32', 'dev', 'lo');
  return lab;
}

export async function destroyThreeHosts(lab: ThreeHosts | undefined): Promise<void> {
  if (!lab) return;
  await lab.hostA?.close().catch(() => undefined);
  await lab.hostB?.close().catch(() => undefined);
  for (const ns of [lab.c, lab.b, lab.a, lab.sw]) await ns.destroy();
  rmSync(lab.dir, { recursive: true, force: true });
}
