// Start-up against an underlay link that is still coming up (issue 12,
// item 6): os.networkInterfaces() omits a link that is not running (its veth
// peer not up yet), so DataPlane.open could not derive the MTU from publicIp
// and failed. The MTU now comes from the kernel (`ip -j addr show`): the data
// plane opens while the link is down, and while it is brought up in the
// background, and carries traffic once it is up.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Netns, e2eUnavailable } from '../helpers/netns';
import { WeftHost, ping } from '../helpers/overlay';

const skip = e2eUnavailable();

describe('DataPlane.open while the underlay link comes up', { skip }, () => {
  const made: Netns[] = [];
  const hosts: WeftHost[] = [];
  after(async () => {
    for (const h of hosts) await h.close().catch(() => undefined);
    for (const n of made) await n.destroy();
  });

  test('opens with the MTU read from the kernel, before and while the peer comes up; then forwards', async () => {
    const a = new Netns('lcua');
    const b = new Netns('lcub');
    made.push(a, b);
    a.ip('link', 'add', 'ul', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'ulb', 'mtu', '1400');
    a.ip('link', 'set', 'ulb', 'netns', b.name);
    b.ip('link', 'set', 'ulb', 'name', 'ul');
    a.ip('addr', 'add', '198.18.0.1/24', 'dev', 'ul');
    b.ip('addr', 'add', '198.18.0.2/24', 'dev', 'ul');
    a.ip('link', 'set', 'ul', 'up'); // up but not running: its peer is down
    const state = (JSON.parse(a.ip('-j', 'link', 'show', 'ul')) as { operstate: string }[])[0]!.operstate;
    assert.notEqual(state, 'UP', 'the link is not running yet');

    const hostA = await WeftHost.start(a, {
      backend: 'vxlan',
      publicIp: '198.18.0.1',
      network: '10.244.0.0/16',
      subnet: '10.244.1.0/24',
      queues: 1,
    });
    hosts.push(hostA);
    assert.equal(a.ip('-j', 'link', 'show', 'flannel.1').includes('"mtu":1350'), true, 'device MTU = 1400 - 50');

    // B's side: not up yet when its data plane starts; brought up 50 ms later, during the open.
    const up = new Promise<void>((r) =>
      setTimeout(() => {
        b.ip('link', 'set', 'ul', 'up');
        r();
      }, 50),
    );
    const hostB = await WeftHost.start(b, {
      backend: 'vxlan',
      publicIp: '198.18.0.2',
      network: '10.244.0.0/16',
      subnet: '10.244.2.0/24',
      queues: 1,
    });
    hosts.push(hostB);
    await up;
    a.ip('addr', 'add', '10.244.1.5/32', 'dev', 'lo');
    b.ip('addr', 'add', '10.244.2.5/32', 'dev', 'lo');
    await hostA.set({ subnet: '10.244.2.0/24', publicIp: '198.18.0.2', ...(hostB.vtepMac ? { vtepMac: hostB.vtepMac } : {}) });
    await hostB.set({ subnet: '10.244.1.0/24', publicIp: '198.18.0.1', ...(hostA.vtepMac ? { vtepMac: hostA.vtepMac } : {}) });
    assert.equal(ping(a, '10.244.2.5', { src: '10.244.1.5' }), 3);
  });

  test("weft run's interface choice (--iface, --public-ip) finds a link that is not running", () => {
    const a = new Netns('lcuc');
    const b = new Netns('lcud');
    made.push(a, b);
    a.ip('link', 'add', 'ul', 'mtu', '1400', 'type', 'veth', 'peer', 'name', 'ulb');
    a.ip('link', 'set', 'ulb', 'netns', b.name);
    a.ip('addr', 'add', '198.18.0.1/24', 'dev', 'ul');
    a.ip('link', 'set', 'ul', 'up'); // peer stays down: not running
    const mod = join(__dirname, '..', '..', 'src', 'agent', 'interface-select.js');
    const script = `const m = require(${JSON.stringify(mod)}); const os = require('node:os');
      console.log(JSON.stringify({ node: Object.keys(os.networkInterfaces()), byName: m.selectInterface({ iface: ['ul'] }), byIp: m.selectInterface({ publicIp: '198.18.0.1' }) }));`;
    const out = JSON.parse(a.exec(process.execPath, '-e', script)) as {
      node: string[];
      byName: { name: string; address: string; mtu: number };
      byIp: { name: string };
    };
    assert.equal(out.node.includes('ul'), false, "Node's list omits the link (the case this covers)");
    assert.deepEqual([out.byName.name, out.byName.address, out.byName.mtu], ['ul', '198.18.0.1', 1400]);
    assert.equal(out.byIp.name, 'ul');
  });
});
