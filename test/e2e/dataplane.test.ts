// The data plane end to end: two hosts in network namespaces joined by a
// veth underlay (198.18.0.0/24), each with a "pod" address inside its lease
// (10.244.<n>.5 on lo), traffic through weft's TUN and UDP/VXLAN path.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';
import { WeftHost, kernelVxlanNode, kernelVxlanPeer, ping, transfer } from '../helpers/overlay';
import type { OffloadOptions } from '../../src/dataplane/options';

const skip = e2eUnavailable();
const kMB = 1024 * 1024;
const kTransferBytes = 64 * kMB;

interface Pair {
  a: Netns;
  b: Netns;
  hostA?: WeftHost;
  hostB?: WeftHost;
}

/** Two namespaces with underlay and pod addresses; no data plane yet. */
function makePair(label: string): Pair {
  const a = new Netns(`${label}a`);
  const b = new Netns(`${label}b`);
  underlay([a, b]);
  a.ip('addr', 'add', '10.244.1.5/32', 'dev', 'lo');
  b.ip('addr', 'add', '10.244.2.5/32', 'dev', 'lo');
  return { a, b };
}

async function teardown(p: Pair | undefined): Promise<void> {
  if (!p) return;
  await p.hostA?.close().catch(() => undefined);
  await p.hostB?.close().catch(() => undefined);
  await p.a.destroy();
  await p.b.destroy();
}

async function startWeftPair(p: Pair, backend: 'udp' | 'vxlan', offloads: OffloadOptions = {}): Promise<void> {
  const common = { backend, network: '10.244.0.0/16', queues: 1, offloads } as const;
  p.hostA = await WeftHost.start(p.a, { ...common, publicIp: '198.18.0.1', subnet: '10.244.1.0/24' });
  p.hostB = await WeftHost.start(p.b, { ...common, publicIp: '198.18.0.2', subnet: '10.244.2.0/24' });
  await p.hostA.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', ...(p.hostB.vtepMac ? { vtepMac: p.hostB.vtepMac } : {}) });
  await p.hostB.set({ subnet: '10.244.1.0/24', publicIp: '198.18.0.1', ...(p.hostA.vtepMac ? { vtepMac: p.hostA.vtepMac } : {}) });
}

async function assertCheckedTransfers(p: Pair): Promise<void> {
  const ab = await transfer(p.a, p.b, '10.244.2.5', kTransferBytes, { fromIp: '10.244.1.5' });
  assert.equal(ab.serverBytes, kTransferBytes);
  assert.equal(ab.serverSha256, ab.sha256, 'A→B content differs');
  const ba = await transfer(p.b, p.a, '10.244.1.5', kTransferBytes, { fromIp: '10.244.2.5' });
  assert.equal(ba.serverBytes, kTransferBytes);
  assert.equal(ba.serverSha256, ba.sha256, 'B→A content differs');
  console.log(`# transfer ${kTransferBytes / kMB} MB: A→B ${ab.gbps.toFixed(2)} Gbit/s, B→A ${ba.gbps.toFixed(2)} Gbit/s`);
}

for (const backend of ['udp', 'vxlan'] as const) {
  describe(`weft ${backend} ↔ weft ${backend}`, { skip }, () => {
    let p: Pair | undefined;
    before(async () => {
      p = makePair(backend);
      await startWeftPair(p, backend);
    });
    after(() => teardown(p));

    test('pods ping each other both ways', () => {
      assert.equal(ping(p!.a, '10.244.2.5', { src: '10.244.1.5' }), 3);
      assert.equal(ping(p!.b, '10.244.1.5', { src: '10.244.2.5' }), 3);
    });

    test('a full-size ping (inner packet = device MTU) crosses unfragmented', () => {
      const mtu = backend === 'udp' ? 1472 : 1450;
      // ICMP payload = MTU − 20 (IP) − 8 (ICMP); -M do forbids fragmentation.
      const out = p!.a.exec(
        'ping',
        '-c',
        '2',
        '-i',
        '0.2',
        '-W',
        '2',
        '-M',
        'do',
        '-s',
        String(mtu - 28),
        '-I',
        '10.244.1.5',
        '10.244.2.5',
      );
      assert.match(out, / 2 received/);
    });

    test(`a ${kTransferBytes / kMB} MB TCP transfer arrives intact in both directions`, async () => {
      await assertCheckedTransfers(p!);
      const stats = await p!.hostA!.stats();
      assert.ok(stats.counters.udpTxPackets! > kTransferBytes / 1500, 'A sent the transfer through its UDP socket');
      assert.ok(stats.counters.tunTxPackets! > kTransferBytes / 1500, 'A wrote the reverse transfer into its TUN');
    });

    if (backend === 'udp') {
      test('the inner TTL is decremented once by each end, as flannel does', () => {
        // ping shows the reply's TTL: 64 at B, −1 leaving B, −1 entering A.
        const out = p!.a.exec('ping', '-c', '1', '-W', '2', '-I', '10.244.1.5', '10.244.2.5');
        assert.match(out, /ttl=62/);
      });
    }
  });
}

describe('weft vxlan ↔ kernel VXLAN flannel.1 (interop)', { skip }, () => {
  let p: Pair | undefined;
  const kernelMac = '0e:2a:0a:f4:02:00';
  before(async () => {
    p = makePair('kx');
    p.hostA = await WeftHost.start(p.a, {
      backend: 'vxlan',
      publicIp: '198.18.0.1',
      network: '10.244.0.0/16',
      subnet: '10.244.1.0/24',
      queues: 1,
    });
    kernelVxlanNode(p.b, { publicIp: '198.18.0.2', subnet: '10.244.2.0/24', mac: kernelMac });
    kernelVxlanPeer(p.b, { subnet: '10.244.1.0/24', publicIp: '198.18.0.1', mac: p.hostA.vtepMac! });
    await p.hostA.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', vtepMac: kernelMac });
  });
  after(() => teardown(p));

  test('weft pings the kernel node and the kernel node pings weft', () => {
    assert.equal(ping(p!.a, '10.244.2.5', { src: '10.244.1.5' }), 3);
    assert.equal(ping(p!.b, '10.244.1.5', { src: '10.244.2.5' }), 3);
  });

  test('checked TCP transfers cross between weft and the kernel both ways', async () => {
    await assertCheckedTransfers(p!);
  });

  test('the kernel counted no VXLAN receive errors from weft', () => {
    const out = p!.b.ip('-s', '-j', 'link', 'show', 'flannel.1');
    const stats = JSON.parse(out)[0].stats64.rx as { errors: number; dropped: number; packets: number };
    assert.ok(stats.packets > 0);
    assert.equal(stats.errors, 0);
  });
});

describe('the table can change while the data plane runs', { skip }, () => {
  let p: Pair | undefined;
  before(async () => {
    p = makePair('tbl');
    await startWeftPair(p, 'vxlan');
  });
  after(() => teardown(p));

  test('removing an entry stops traffic to that subnet, counted as noRoute, and adding it back restores it', async () => {
    assert.equal(ping(p!.a, '10.244.2.5', { src: '10.244.1.5', count: 2 }), 2);
    const before = await p!.hostA!.stats();
    assert.equal(await p!.hostA!.delete('10.244.2.0/24'), true);
    assert.equal(ping(p!.a, '10.244.2.5', { src: '10.244.1.5', count: 2 }), 0);
    const during = await p!.hostA!.stats();
    assert.ok(during.drops.noRoute! >= before.drops.noRoute! + 2, 'dropped pings counted as noRoute');
    assert.equal(during.entries.length, 0);
    await p!.hostA!.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', vtepMac: p!.hostB!.vtepMac! });
    assert.equal(ping(p!.a, '10.244.2.5', { src: '10.244.1.5', count: 2 }), 2);
  });

  test('a TCP connect to a subnet without a lease fails at once with ENETUNREACH (ICMP net unreachable)', async () => {
    const before = await p!.hostA!.stats();
    const script =
      "const s=require('net').connect({host:'10.244.77.5',port:80,localAddress:'10.244.1.5'});" +
      "s.on('error',e=>{console.log(e.code);process.exit(0)});setTimeout(()=>{console.log('TIMEOUT');process.exit(0)},3000)";
    const started = Date.now();
    const out = p!.a.exec(process.execPath, '-e', script).trim();
    assert.equal(out, 'ENETUNREACH');
    assert.ok(Date.now() - started < 2500, 'the error arrived before any TCP timeout');
    const after = await p!.hostA!.stats();
    assert.ok(after.counters.icmpUnreachableSent! > before.counters.icmpUnreachableSent!);
  });
});

describe('malformed datagrams are dropped and counted while good traffic flows', { skip }, () => {
  let p: Pair | undefined;
  before(async () => {
    p = makePair('bad');
    await startWeftPair(p, 'vxlan');
    p.b.ip('addr', 'add', '198.18.0.9/24', 'dev', 'ul'); // an address that holds no lease
  });
  after(() => teardown(p));

  test('each kind of bad frame lands in its drop counter and forwarding goes on', async () => {
    const macA = p!.hostA!.vtepMac!.replace(/:/g, '');
    const macB = p!.hostB!.vtepMac!.replace(/:/g, '');
    const ip = '450000140000400040110000' + 'c0a80001' + '0af40105'; // a bare 20-byte IPv4 header
    const frame = (flags: string, vni: string, dst: string, src: string, type: string, body: string): string =>
      flags + '000000' + vni + '00' + dst + src + type + body;
    const good = (body: string): string => frame('08', '000001', macA, macB, '0800', body);
    const send = (src: string, payloads: string[]): void => {
      execFileSync('ip', [
        'netns',
        'exec',
        p!.b.name,
        process.execPath,
        join(__dirname, '..', 'helpers', 'send-udp.js'),
        src,
        '198.18.0.1',
        '8472',
        ...payloads,
      ]);
    };
    const before = await p!.hostA!.stats();
    send('198.18.0.2', [
      '08', // truncated VXLAN header
      good('').slice(0, 40), // truncated inner Ethernet
      frame('88', '000001', macA, macB, '0800', ip), // GBP flag set
      frame('08', '000002', macA, macB, '0800', ip), // wrong VNI
      frame('08', '000001', 'ffffffffffff', macB, '0800', ip), // not our MAC
      frame('08', '000001', macA, macA, '0800', ip), // our own MAC as source
      frame('08', '000001', macA, macB, '0806', ip), // ARP
      good('65' + ip.slice(2)), // IP version 6 in an IPv4 frame... bad version
      good('4f00001400'), // truncated IP header
      'deadbeef'.repeat(40), // garbage
    ]);
    send('198.18.0.9', [good(ip)]); // from an address that is no peer
    // Good traffic still flows (and proves the bad frames were all processed).
    const t = await transfer(p!.a, p!.b, '10.244.2.5', 8 * kMB, { fromIp: '10.244.1.5' });
    assert.equal(t.serverSha256, t.sha256);
    const after = await p!.hostA!.stats();
    const delta = (k: string): number => after.drops[k]! - before.drops[k]!;
    assert.equal(delta('malformed'), 4, 'truncated header, truncated Ethernet, bad IP version, truncated IP');
    assert.equal(delta('badFlags'), 2, 'GBP flag, garbage');
    assert.equal(delta('badVni'), 1);
    assert.equal(delta('badMac'), 1);
    assert.equal(delta('ownMac'), 1);
    assert.equal(delta('notIp'), 1);
    assert.equal(delta('unknownPeer'), 1);
  });
});

describe('offloads switched off one at a time still carry checked traffic', { skip }, () => {
  for (const off of ['vnetHdr', 'tso', 'udpGso', 'udpGro', 'coalesce'] as const) {
    test(`without ${off}: a checked transfer both ways, and the stats say ${off} is off`, async () => {
      const p = makePair(`no${off}`.slice(0, 8).toLowerCase());
      try {
        await startWeftPair(p, 'vxlan', { [off]: false });
        const t = await transfer(p.a, p.b, '10.244.2.5', 16 * kMB, { fromIp: '10.244.1.5' });
        assert.equal(t.serverSha256, t.sha256);
        const u = await transfer(p.b, p.a, '10.244.1.5', 16 * kMB, { fromIp: '10.244.2.5' });
        assert.equal(u.serverSha256, u.sha256);
        assert.equal((await p.hostA!.stats()).offloads[off], false);
      } finally {
        await teardown(p);
      }
    });
  }

  test('a flow with a tiny MSS (88: 745 segments per super-packet) crosses without UDP GSO', async () => {
    const p = makePair('mss');
    try {
      await startWeftPair(p, 'udp', { udpGso: false });
      const server = p.b.spawn('iperf3', ['-s', '-1', '-B', '10.244.2.5']);
      await new Promise((r) => setTimeout(r, 300));
      const out = JSON.parse(p.a.exec('iperf3', '-c', '10.244.2.5', '-B', '10.244.1.5', '-M', '88', '-t', '2', '-J')) as {
        end: { sum_received: { bytes: number } };
      };
      server.kill();
      assert.ok(out.end.sum_received.bytes > 1e6, 'data arrived');
      const stats = await p.hostA!.stats();
      assert.ok(stats.counters.tunRxGsoPackets! > 0, 'super-packets were cut');
      assert.equal(stats.offloads.udpGso, false);
      assert.equal((await p.hostA!.stats()).drops.malformed, 0);
    } finally {
      await teardown(p);
    }
  });
});
