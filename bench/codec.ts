// The codec micro-benchmark: encapsulation + decapsulation of one packet,
// looped natively inside the addon (no N-API crossing per packet), for each
// backend and packet size. Reports ns per packet and the Gbit/s that implies
// for one core.

import { loadAddon } from '../src/dataplane/native';

export interface CodecFigure {
  backend: 'udp' | 'vxlan';
  size: number;
  nsPerPacket: number;
  gbps: number;
}

/** A valid IPv4/UDP packet of `size` bytes (TTL 64, checksum set). */
function ipv4Packet(size: number): Buffer {
  const p = Buffer.alloc(size);
  p[0] = 0x45;
  p.writeUInt16BE(size, 2);
  p[8] = 64;
  p[9] = 17;
  p.writeUInt32BE(0x0af40105, 12);
  p.writeUInt32BE(0x0af40205, 16);
  const addon = loadAddon();
  p.writeUInt16BE(addon.codec.checksum(p.subarray(0, 20)), 10);
  p.writeUInt16BE(size - 20, 24);
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
  return out;
}
