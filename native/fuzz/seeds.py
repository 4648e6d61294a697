#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus from the VXLAN fixture captures.

    seeds.py FIXTURES_DIR OUT_DIR

For every UDP datagram in FIXTURES_DIR/*.pcap (classic pcap, Ethernet) it
writes inputs in native/fuzz/fuzz_packets.cc's format:
  receive, vxlan (own VNI/MAC taken from the frame)  [0][3][0][0] payload
  receive, udp backend (the inner IPv4 packet)       [0][0][0][0] inner
  send, no offload                                   [1][vnet 0..][b] inner
  send, TCP/UDP GSO with a small gso_size            [1][vnet gso][b] inner
and, per capture, one GRO-style receive of up to 8 consecutive equal-size
datagrams; plus synthetic IPv4/IPv6 TCP/UDP packets (IPv6 with and without
extension headers) for the offload target (fuzz_offload.cc):
  segment (TSO/USO read, NEEDS_CSUM)                 [0x80][vnet] packet
  coalesce (a flow cut from a template, some edits)  [0x81][udp][count][gso][cut][m][edits] template Nothing is written into the repository: OUT_DIR is a temp dir.
"""
import os
import struct
import sys


def frames(path):
    with open(path, 'rb') as f:
        buf = f.read()
    magic = struct.unpack('<I', buf[:4])[0]
    endian = '<' if magic in (0xA1B2C3D4, 0xA1B23C4D) else '>'
    if struct.unpack(endian + 'I', buf[:4])[0] not in (0xA1B2C3D4, 0xA1B23C4D):
        raise ValueError(f'{path}: not a classic pcap')
    if struct.unpack(endian + 'I', buf[20:24])[0] != 1:
        raise ValueError(f'{path}: link type is not Ethernet')
    off = 24
    while off + 16 <= len(buf):
        caplen = struct.unpack(endian + 'I', buf[off + 8:off + 12])[0]
        yield buf[off + 16:off + 16 + caplen]
        off += 16 + caplen


def udp_payload(frame):
    """The UDP payload of an Ethernet/IPv4/UDP frame, or None."""
    if len(frame) < 14 + 20 + 8 or frame[12:14] != b'\x08\x00':
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 17 or len(ip) < ihl + 8:
        return None
    total = struct.unpack('>H', ip[2:4])[0]
    return ip[ihl + 8:total] if total <= len(ip) else ip[ihl + 8:]


def vnet(flags=0, gso_type=0, hdr_len=0, gso_size=0, csum_start=0, csum_offset=0):
    # virtio_net_hdr in native (little-endian) byte order, as TUN uses it.
    return struct.pack('<BBHHHH', flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


def offload_templates():
    """(packet, l4 offset, proto) for IPv4/IPv6 TCP/UDP with a few payload bytes."""
    src4, dst4 = bytes([10, 244, 1, 5]), bytes([10, 244, 2, 7])
    src6 = bytes.fromhex('fd000010024400010000000000000005')
    dst6 = bytes.fromhex('fd000010024400020000000000000007')
    ts = bytes([1, 1, 8, 10]) + struct.pack('>II', 7, 9)
    out = []
    for proto in (6, 17):
        for opts in (b'', ts):
            if proto == 17 and opts:
                continue
            l4 = (struct.pack('>HHIIBBHHH', 40000, 5201, 1000, 77, (20 + len(opts)) // 4 << 4, 0x10, 502, 0, 0) + opts
                  if proto == 6 else struct.pack('>HHHH', 40000, 5201, 8 + 64, 0))
            payload = bytes((i * 31) & 0xFF for i in range(64))
            v4 = struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(l4) + 64, 0x1234, 0x4000, 64, proto, 0, src4, dst4)
            out.append((v4 + l4 + payload, 20, proto))
            for ext in (b'', bytes([proto, 0, 1, 4, 0, 0, 0, 0]), bytes([60, 0, 1, 4, 0, 0, 0, 0, proto, 0, 1, 4, 0, 0, 0, 0])):
                first = proto if not ext else 0
                v6 = struct.pack('>IHBB16s16s', 0x60012345, len(ext) + len(l4) + 64, first, 64, src6, dst6)
                out.append((v6 + ext + l4 + payload, 40 + len(ext), proto))
    return out


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    n = 0

    def write(data):
        nonlocal n
        with open(os.path.join(out, f'seed-{n:05d}'), 'wb') as f:
            f.write(data)
        n += 1

    for name in sorted(os.listdir(src)):
        if not name.endswith('.pcap'):
            continue
        payloads = [p for p in (udp_payload(f) for f in frames(os.path.join(src, name))) if p]
        for p in payloads:
            write(b'\x00\x03\x00\x00' + p)
            inner = p[22:]
            if len(p) < 22 or p[20:22] != b'\x08\x00' or not inner:
                continue
            write(b'\x00\x00\x00\x00' + inner)
            write(b'\x01' + vnet() + b'\x01' + inner)
            write(b'\x01' + vnet() + b'\x00' + inner)
            ihl = (inner[0] & 0x0F) * 4
            proto = inner[9] if len(inner) > 9 else 0
            if proto in (6, 17):
                gso_type, off = (1, 16) if proto == 6 else (5, 6)
                write(b'\x01' + vnet(1, gso_type, 0, 100, ihl, off) + b'\x01' + inner)
                write(b'\x01' + vnet(1, 0, 0, 0, ihl, off) + b'\x00' + inner)
        # One receive as UDP GRO delivers it: equal-size datagrams back to back.
        by_len = {}
        for p in payloads:
            by_len.setdefault(len(p), []).append(p)
        for size, group in by_len.items():
            if len(group) > 1 and size < 65536:
                write(b'\x00\x03' + struct.pack('>H', size) + b''.join(group[:8]))
                break
    # RECEIVE6: IPv6 templates as flannel-v6.1 frames to 0e:2a:0a:f4:02:06 from lease 1's MAC, and one IPv4 frame
    # on the IPv6 underlay (never written).
    own6, peer6 = bytes([0x0e, 0x2a, 0x0a, 0xf4, 0x02, 0x06]), bytes([0x0e, 0x2a, 0x0a, 0xf4, 0x01, 0x06])
    vx = bytes([8, 0, 0, 0, 0, 0, 1, 0])
    for pkt, _, _ in offload_templates():
        if pkt[0] >> 4 == 6:
            frame = vx + own6 + peer6 + b'\x86\xdd' + pkt
            write(b'\x40\x00\x00\x00' + frame)
            write(b'\x40\x00' + struct.pack('>H', len(frame)) + frame * 3)
        else:
            write(b'\x40\x00\x00\x00' + vx + own6 + peer6 + b'\x08\x00' + pkt)
    for pkt, off, proto in offload_templates():
        v6 = pkt[0] >> 4 == 6
        gso_type = 5 if proto == 17 else (4 if v6 else 1)
        csum = 6 if proto == 17 else 16
        write(b'\x80' + vnet(1, gso_type, 0, 24, off, csum) + pkt)
        write(b'\x80' + vnet(1, 0, 0, 0, off, csum) + pkt)
        for udp in (0, 1):
            write(bytes([0x81, udp, 6, 0, 64, 10, 0]) + pkt)
            write(bytes([0x81, udp, 5, 0, 64, 0, 1, 2, 0, 7, 1]) + pkt)  # one edit: packet 2, byte 7 (hop limit / TTL)
    print(f'{n} seeds from {src}')


if __name__ == '__main__':
    main()
