// Least privilege (issue 6, item 6): with the TUN device pre-created by root
// (`ip tuntap add … user nobody multi_queue vnet_hdr`, address, MTU, route)
// and a UDP port above 1024, the data plane runs as `nobody` with no
// capabilities at all (setpriv clears the effective, permitted, inheritable,
// ambient and bounding sets) and `configureDevice: false`, and forwards
// traffic with a root-run peer: pings and checked transfers both ways.
//
// /dev/net/tun is crw-rw-rw- on a standard Linux system (udev's default);
// this machine's is 0600, so the data plane's process gets a 0666 node bound
// over /dev/net/tun in its own mount namespace (the one `ip netns exec`
// makes): nothing changes for the rest of the machine.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Netns, e2eUnavailable, underlay } from '../helpers/netns';
import { WeftHost, ping, transfer } from '../helpers/overlay';
import type { DataPlaneOptions } from '../../src/index';

const skip = e2eUnavailable();
const kMB = 1024 * 1024;

/** The command line that starts a process as nobody without capabilities, /dev/net/tun as on a standard system. */
function asNobody(tunNode: string): string[] {
  return [
    'sh',
    '-c',
    'mount --bind "$0" /dev/net/tun && exec setpriv --reuid=nobody --regid=nogroup --clear-groups ' +
      '--inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs -- "$@"',
    tunNode,
  ];
}

function capabilities(pid: number): { uid: string; capEff: string; capPrm: string; capBnd: string; capAmb: string } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): string => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  return { uid: field('Uid'), capEff: field('CapEff'), capPrm: field('CapPrm'), capBnd: field('CapBnd'), capAmb: field('CapAmb') };
}

describe('the data plane runs unprivileged on a pre-created TUN device', { skip }, () => {
  let a: Netns | undefined;
  let b: Netns | undefined;
  let hostA: WeftHost | undefined;
  let hostB: WeftHost | undefined;
  let dir: string | undefined;
  let wrap: string[] = [];
  const optionsA: DataPlaneOptions = {
    backend: 'vxlan',
    publicIp: '198.18.0.1',
    network: '10.244.0.0/16',
    subnet: '10.244.1.0/24',
    queues: 2,
    configureDevice: false,
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'weft-unpriv-'));
    chmodSync(dir, 0o755);
    const node = join(dir, 'tun');
    execFileSync('mknod', ['-m', '666', node, 'c', '10', '200']);
    wrap = asNobody(node);
    a = new Netns('upa');
    b = new Netns('upb');
    underlay([a, b]);
    a.ip('addr', 'add', '10.244.1.5/32', 'dev', 'lo');
    b.ip('addr', 'add', '10.244.2.5/32', 'dev', 'lo');
    // What the root oneshot does (README "Running unprivileged").
    a.ip('tuntap', 'add', 'dev', 'flannel.1', 'mode', 'tun', 'user', 'nobody', 'multi_queue', 'vnet_hdr');
    a.exec('sysctl', '-q', '-w', 'net.ipv6.conf.flannel/1.disable_ipv6=1');
    a.ip('link', 'set', 'flannel.1', 'mtu', '1450', 'txqueuelen', '10000', 'up');
    a.ip('addr', 'add', '10.244.1.0/32', 'dev', 'flannel.1');
    a.ip('route', 'add', '10.244.0.0/16', 'dev', 'flannel.1');

    hostA = await WeftHost.start(a, optionsA, { wrap });
    hostB = await WeftHost.start(b, {
      backend: 'vxlan',
      publicIp: '198.18.0.2',
      network: '10.244.0.0/16',
      subnet: '10.244.2.0/24',
      queues: 1,
    });
    await hostA.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', vtepMac: hostB.vtepMac! });
    await hostB.set({ subnet: '10.244.1.0/24', publicIp: '198.18.0.1', vtepMac: hostA.vtepMac! });
  });

  after(async () => {
    await hostA?.close().catch(() => undefined);
    await hostB?.close().catch(() => undefined);
    await a?.destroy();
    await b?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the data plane process is nobody with no capabilities, and attached to the device as it was', async () => {
    const { pid, fatalErrno } = await hostA!.health();
    const caps = capabilities(pid);
    assert.match(caps.uid, /^65534\s+65534\s+65534\s+65534$/);
    for (const set of [caps.capEff, caps.capPrm, caps.capBnd, caps.capAmb]) assert.equal(set, '0000000000000000');
    assert.equal(fatalErrno, 0);
    const link = JSON.parse(a!.ip('-d', '-j', 'link', 'show', 'flannel.1'))[0] as {
      mtu: number;
      txqlen: number;
      linkinfo: { info_data: { numqueues?: number } };
    };
    assert.equal(link.mtu, 1450);
    assert.equal(link.txqlen, 10000);
    const stats = await hostA!.stats();
    assert.equal(stats.queues, 2, 'two TUN queues attached by the unprivileged process');
    assert.equal(stats.offloads.vnetHdr, true);
    console.log(`# unprivileged data plane pid ${pid}: uid ${caps.uid}, CapEff ${caps.capEff}, offloads ${JSON.stringify(stats.offloads)}`);
  });

  test('pods ping each other both ways and checked transfers cross both ways', async () => {
    assert.equal(ping(a!, '10.244.2.5', { src: '10.244.1.5' }), 3);
    assert.equal(ping(b!, '10.244.1.5', { src: '10.244.2.5' }), 3);
    const ab = await transfer(a!, b!, '10.244.2.5', 32 * kMB, { fromIp: '10.244.1.5' });
    assert.equal(ab.serverSha256, ab.sha256);
    const ba = await transfer(b!, a!, '10.244.1.5', 32 * kMB, { fromIp: '10.244.2.5' });
    assert.equal(ba.serverSha256, ba.sha256);
    const s = await hostA!.stats();
    assert.ok(s.counters.udpTxPackets! > (32 * kMB) / 1500 && s.counters.tunTxPackets! > (32 * kMB) / 1500);
    console.log(`# unprivileged: A→B ${ab.gbps.toFixed(2)} Gbit/s, B→A ${ba.gbps.toFixed(2)} Gbit/s`);
  });

  test('unprivileged, configureDevice: false refuses a device that does not exist (ENODEV), and the default asks for CAP_NET_ADMIN', async () => {
    await assert.rejects(
      WeftHost.start(a!, { ...optionsA, device: 'weft-none0', tablePath: '/dev/shm/weft-unpriv-none.table' }, { wrap }),
      /weft-none0 does not exist/,
    );
    assert.throws(() => a!.ip('link', 'show', 'weft-none0'), 'no device was created');
    await assert.rejects(
      WeftHost.start(
        a!,
        { ...optionsA, device: 'weft-new0', configureDevice: true, tablePath: '/dev/shm/weft-unpriv-new.table' },
        { wrap },
      ),
      /needs CAP_NET_ADMIN/,
    );
  });
});
