// Only peers may inject traffic (issue 6, item 2). Three hosts on one
// underlay switch: A and B run weft; C (198.18.0.3) holds a lease in the
// tables (10.244.3.0/24) but runs no data plane, and sends crafted datagrams
// with raw sockets, from its own address or spoofing B's.
//
// - Default: datagrams from an address that is no lease's PublicIP are
//   dropped as unknownPeer; allowUnknownPeers accepts them.
// - checkInnerSource (on at A, off at B): a decapsulated packet is accepted
//   only if its inner source lies in the lease whose PublicIP sent it; other
//   sources are dropped as badSource, while B, without the check, forwards
//   the same packets. Real traffic between A and B keeps flowing.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { e2eUnavailable } from '../helpers/netns';
import { WeftHost, ping, transfer } from '../helpers/overlay';
import { buildInject, destroyThreeHosts, icmpEcho, mac, threeHosts, vxlan, writeRecords, type ThreeHosts } from '../helpers/hostile';
import type { DataPlaneOptions, DataPlaneStats } from '../../src/index';

const skip = e2eUnavailable();
const kMB = 1024 * 1024;

type Lab = ThreeHosts;
const teardown = destroyThreeHosts;

async function makeLab(label: string, backend: 'udp' | 'vxlan', extraA: Partial<DataPlaneOptions>): Promise<Lab> {
  const lab = threeHosts(label);
  const common = { backend, network: '10.244.0.0/16', queues: 1 } as const;
  lab.hostA = await WeftHost.start(lab.a, { ...common, publicIp: '198.18.0.1', subnet: '10.244.1.0/24', ...extraA });
  lab.hostB = await WeftHost.start(lab.b, { ...common, publicIp: '198.18.0.2', subnet: '10.244.2.0/24' });
  const cMac = '0e:2a:0a:f4:03:00';
  for (const [host, peers] of [
    [
      lab.hostA,
      [
        ['10.244.2.0/24', '198.18.0.2', lab.hostB.vtepMac],
        ['10.244.3.0/24', '198.18.0.3', cMac],
      ],
    ],
    [
      lab.hostB,
      [
        ['10.244.1.0/24', '198.18.0.1', lab.hostA.vtepMac],
        ['10.244.3.0/24', '198.18.0.3', cMac],
      ],
    ],
  ] as const) {
    for (const [subnet, publicIp, vtepMac] of peers) {
      await host.set({ subnet, publicIp, ...(backend === 'vxlan' ? { vtepMac: vtepMac! } : {}) });
    }
  }
  return lab;
}

/** Sends `payloads` from C with outer source `src` to `dst`:`port` and returns the receiver's counter deltas. */
async function sendFromC(
  lab: Lab,
  host: WeftHost,
  src: string,
  dst: string,
  port: number,
  payloads: Buffer[],
): Promise<Record<string, number>> {
  const file = join(lab.dir, `p-${Date.now()}-${Math.random()}`);
  writeRecords(file, payloads);
  const before = await host.stats();
  const out = execFileSync('ip', ['netns', 'exec', lab.c.name, buildInject(), 'udp', src, dst, String(port), file, '--pace-us', '2000'], {
    encoding: 'utf8',
  });
  assert.equal(JSON.parse(out).errors, 0);
  let after: DataPlaneStats = before;
  for (let i = 0; i < 200 && after.counters.udpRxPackets! - before.counters.udpRxPackets! < payloads.length; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await host.stats();
  }
  await new Promise((r) => setTimeout(r, 50));
  after = await host.stats();
  const d: Record<string, number> = {
    udpRxPackets: after.counters.udpRxPackets! - before.counters.udpRxPackets!,
    tunTxPackets: after.counters.tunTxPackets! - before.counters.tunTxPackets!,
  };
  for (const [k, v] of Object.entries(after.drops)) if (v !== before.drops[k]) d[k] = v - before.drops[k]!;
  return d;
}

/** Inner packets to `dst` from each source, encapsulated for `host` (vxlan frames from `peerMac`). */
function packets(backend: 'udp' | 'vxlan', host: WeftHost, peerMac: string | undefined, dst: string, sources: string[]): Buffer[] {
  return sources.map((src) => {
    const ip = icmpEcho({ src, dst });
    return backend === 'vxlan' ? vxlan({ dst: mac(host.vtepMac!), src: mac(peerMac ?? '0e:2a:0a:f4:03:00') }, ip) : ip;
  });
}

for (const backend of ['vxlan', 'udp'] as const) {
  const port = backend === 'vxlan' ? 8472 : 8285;

  describe(`only peers may inject traffic (${backend})`, { skip }, () => {
    let lab: Lab | undefined;
    before(async () => {
      lab = await makeLab(`p${backend[0]}`, backend, { checkInnerSource: true });
    });
    after(() => teardown(lab));

    test('with checkInnerSource on, traffic between real peers flows both ways (ping, checked transfers)', async () => {
      assert.equal(ping(lab!.a, '10.244.2.5', { src: '10.244.1.5' }), 3);
      assert.equal(ping(lab!.b, '10.244.1.5', { src: '10.244.2.5' }), 3);
      for (const [from, to, ip, fromIp] of [
        [lab!.a, lab!.b, '10.244.2.5', '10.244.1.5'],
        [lab!.b, lab!.a, '10.244.1.5', '10.244.2.5'],
      ] as const) {
        const t = await transfer(from, to, ip, 16 * kMB, { fromIp });
        assert.equal(t.serverSha256, t.sha256);
      }
      const s = await lab!.hostA!.stats();
      assert.equal(s.drops.badSource, 0, 'no real packet was taken for a spoofed one');
    });

    test("an inner source outside the sending peer's lease is dropped as badSource at A, forwarded by B (check off)", async () => {
      // Outer source B's PublicIP (spoofed by C); inner sources in C's lease, A's own, B's, outside the network.
      const spoofed = ['10.244.3.5', '10.244.1.7', '10.244.9.5', '192.0.2.1'];
      const dA = await sendFromC(
        lab!,
        lab!.hostA!,
        '198.18.0.2',
        '198.18.0.1',
        port,
        packets(backend, lab!.hostA!, lab!.hostB!.vtepMac, '10.244.1.5', spoofed),
      );
      assert.deepEqual(dA, { udpRxPackets: 4, tunTxPackets: 0, badSource: 4 }, JSON.stringify(dA));
      const okA = await sendFromC(
        lab!,
        lab!.hostA!,
        '198.18.0.2',
        '198.18.0.1',
        port,
        packets(backend, lab!.hostA!, lab!.hostB!.vtepMac, '10.244.1.5', ['10.244.2.5', '10.244.2.200']),
      );
      assert.deepEqual(okA, { udpRxPackets: 2, tunTxPackets: 2 }, `sources inside B's lease pass: ${JSON.stringify(okA)}`);
      // C's own address is a lease's PublicIP too: only its own subnet may be the source.
      const fromC = await sendFromC(
        lab!,
        lab!.hostA!,
        '198.18.0.3',
        '198.18.0.1',
        port,
        packets(backend, lab!.hostA!, undefined, '10.244.1.5', ['10.244.3.5', '10.244.2.5']),
      );
      assert.deepEqual(fromC, { udpRxPackets: 2, tunTxPackets: 1, badSource: 1 }, JSON.stringify(fromC));
      // B runs without the check: the same spoofed sources go through.
      const dB = await sendFromC(
        lab!,
        lab!.hostB!,
        '198.18.0.1',
        '198.18.0.2',
        port,
        packets(backend, lab!.hostB!, lab!.hostA!.vtepMac, '10.244.2.5', spoofed.slice(0, 3)),
      );
      // (B's kernel answers them; the answer to 10.244.9.5 has no lease and counts noRoute on B's send side.)
      assert.deepEqual([dB.udpRxPackets, dB.tunTxPackets, dB.badSource ?? 0], [3, 3, 0], JSON.stringify(dB));
      console.log(
        `# ${backend}: A (checkInnerSource) spoofed ${JSON.stringify(dA)}, valid ${JSON.stringify(okA)}, from C ${JSON.stringify(fromC)}; B (off) ${JSON.stringify(dB)}`,
      );
    });

    test("datagrams from an address that is no lease's PublicIP are dropped as unknownPeer by default", async () => {
      const d = await sendFromC(
        lab!,
        lab!.hostA!,
        '198.18.0.44',
        '198.18.0.1',
        port,
        packets(backend, lab!.hostA!, lab!.hostB!.vtepMac, '10.244.1.5', ['10.244.2.5', '10.244.2.6']),
      );
      assert.deepEqual(d, { udpRxPackets: 2, tunTxPackets: 0, unknownPeer: 2 });
    });
  });
}

describe('allowUnknownPeers relaxes the peer check (NAT)', { skip }, () => {
  let lab: Lab | undefined;
  before(async () => {
    lab = await makeLab('pn', 'vxlan', { allowUnknownPeers: true });
  });
  after(() => teardown(lab));

  test('a datagram from an address that is no PublicIP is forwarded, while B (default) drops it', async () => {
    const dA = await sendFromC(
      lab!,
      lab!.hostA!,
      '198.18.0.44',
      '198.18.0.1',
      8472,
      packets('vxlan', lab!.hostA!, lab!.hostB!.vtepMac, '10.244.1.5', ['10.244.2.5']),
    );
    assert.deepEqual(dA, { udpRxPackets: 1, tunTxPackets: 1 });
    const dB = await sendFromC(
      lab!,
      lab!.hostB!,
      '198.18.0.44',
      '198.18.0.2',
      8472,
      packets('vxlan', lab!.hostB!, lab!.hostA!.vtepMac, '10.244.2.5', ['10.244.1.5']),
    );
    assert.deepEqual(dB, { udpRxPackets: 1, tunTxPackets: 0, unknownPeer: 1 });
  });
});
