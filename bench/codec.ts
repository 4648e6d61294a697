// The codec micro-benchmark: encapsulation + decapsulation of one packet,
// looped natively inside the addon (no N-API crossing per packet), for each
// backend and packet size. Reports ns per packet and the Gbit/s that implies
// for one core.

import { loadAddon } from '../src/dataplane/native';

export interface CodecFigure {
  /** udp / vxlan: encap + decap of one packet; tso: cutting a TCP super-packet into segments. */
  backend: 'udp' | 'vxlan' | 'tso';
  size: number;
  nsPerPacket: number;
  gbps: number;
}

/** A valid IPv4 UDP (or TCP) packet of `size` bytes (TTL 64, header checksum set). */
function ipv4Packet(size: number, proto = 17): Buffer {
  const p = Buffer.alloc(size);
  p[0] = 0x45;
  p.writeUInt16BE(size, 2);
  p[8] = 64;
  p[9] = proto;
  if (proto === 6) p[32] = 0x50; // TCP data offset 5
  if (proto === 6) p[33] = 0x10; // ACK
  p.writeUInt32BE(0x0af40105, 12);
  p.writeUInt32BE(0x0af40205, 16);
  const addon = loadAddon();
  p.writeUInt16BE(addon.codec.checksum(p.subarray(0, 20)), 10);
  if (proto === 17) p.writeUInt16BE(size - 20, 24);
  return p;
}

export function codecBench(opts: { quick: boolean }): CodecFigure[] {
  const { codec } = loadAddon();
  const out: CodecFigure[] = [];
  for (const backend of ['udp', 'vxlan'] as const) {
    for (const size of [64, 576, 1450, 8950]) {
      const packet = ipv4Packet(size);
      const iterations = opts.quick ? 200_000 : 2_000_000;
      codec.benchCodec(backend, packet, 10_000); // warm up
      const runs = [0, 1, 2].map(() => codec.benchCodec(backend, packet, iterations).ns / iterations);
      const ns = runs.sort((x, y) => x - y)[1]!;
      out.push({ backend, size, nsPerPacket: ns, gbps: (size * 8) / ns });
    }
  }
  for (const size of [8950, 65000]) {
    const packet = ipv4Packet(size, 6);
    const iterations = opts.quick ? 2_000 : 20_000;
    codec.benchCodec('tso', packet, 100);
    const runs = [0, 1, 2].map(() => codec.benchCodec('tso', packet, iterations).ns / iterations);
    const ns = runs.sort((x, y) => x - y)[1]!;
    out.push({ backend: 'tso', size, nsPerPacket: ns, gbps: (size * 8) / ns });
  }
  return out;
}
