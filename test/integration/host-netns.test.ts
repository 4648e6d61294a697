// iptables rules and host-gw routes programmed for real, inside network
// namespaces made by test/helpers/netns.ts (never in the root namespace).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { netnsRunner } from '../../src/host/exec';
import {
  RuleSync,
  forwardRules,
  installRules,
  masqRules,
  missingRules,
  removeRules,
  ruleText,
  supportsRandomFully,
} from '../../src/host/iptables';
import { HostGwRoutes, listRoutes } from '../../src/host/routes';
import { formatCidr, parseCidr } from '../../src/net/cidr';
import { Netns, destroyAll, e2eUnavailable } from '../helpers/netns';

const cidr = (s: string) => parseCidr(s, { strict: true })!;
const unavailable = e2eUnavailable();
const made: Netns[] = [];

function rulesIn(ns: Netns, table: string): string[] {
  return ns
    .exec('iptables-save', '-t', table)
    .split('\n')
    .filter((l) => /FLANNEL|flanneld/.test(l));
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

after(async () => {
  await destroyAll(made);
});

describe('iptables rules in a namespace', { skip: unavailable }, () => {
  let ns: Netns;
  before(() => {
    ns = new Netns('ipt');
    made.push(ns);
  });

  it("installs flannel's rules exactly, idempotently, and resyncs a deleted rule", async () => {
    const run = netnsRunner(ns.name);
    const randomFully = await supportsRandomFully(run);
    const rules = [...masqRules(cidr('10.244.0.0/16'), cidr('10.244.3.0/24'), { randomFully }), ...forwardRules(cidr('10.244.0.0/16'))];
    await installRules(rules, run);
    await installRules(rules, run); // a second install must not duplicate anything
    const expectedNat = [':FLANNEL-POSTRTG - [0:0]', ...rules.filter((r) => r.table === 'nat').map(ruleText)];
    assert.deepEqual(
      rulesIn(ns, 'nat').map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]')),
      expectedNat,
    );
    assert.deepEqual(
      rulesIn(ns, 'filter').map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]')),
      [':FLANNEL-FWD - [0:0]', ...rules.filter((r) => r.table === 'filter').map(ruleText)],
    );
    assert.ok(randomFully, 'iptables 1.8 supports --random-fully');

    let resynced = 0;
    const sync2 = new RuleSync(rules, { run, intervalMs: 100, onResync: () => resynced++ });
    await sync2.start();
    ns.exec(
      'iptables',
      '-t',
      'nat',
      '-D',
      'FLANNEL-POSTRTG',
      '-m',
      'mark',
      '--mark',
      '0x4000/0x4000',
      '-m',
      'comment',
      '--comment',
      'flanneld masq',
      '-j',
      'RETURN',
    );
    assert.equal((await missingRules(rules, run)).length, 1);
    await until(() => resynced > 0);
    await sync2.stop();
    assert.deepEqual(
      rulesIn(ns, 'nat').map((l) => l.replace(/\[\d+:\d+\]/, '[0:0]')),
      expectedNat,
    );

    await removeRules(rules, run);
    assert.deepEqual(rulesIn(ns, 'nat'), []);
    assert.deepEqual(rulesIn(ns, 'filter'), []);
    assert.equal((await missingRules(rules, run)).length, rules.length);
  });

  it('replaces the rules of an old subnet when the subnet changes', async () => {
    const run = netnsRunner(ns.name);
    await installRules(masqRules(cidr('10.244.0.0/16'), cidr('10.244.3.0/24'), { randomFully: true }), run);
    const now = masqRules(cidr('10.244.0.0/16'), cidr('10.244.9.0/24'), { randomFully: true });
    await installRules(now, run);
    const lines = rulesIn(ns, 'nat');
    assert.ok(!lines.some((l) => l.includes('10.244.3.0/24')), lines.join('\n'));
    assert.equal(lines.filter((l) => l.startsWith('-A POSTROUTING')).length, 1);
    await removeRules(now, run);
  });
});

describe('host-gw routes in a namespace', { skip: unavailable }, () => {
  it('adds, moves, re-adds when missing, and deletes routes via the peer PublicIP', async () => {
    const ns = new Netns('hgw');
    made.push(ns);
    ns.ip('link', 'add', 'ul', 'type', 'veth', 'peer', 'name', 'ulp');
    ns.ip('link', 'set', 'ulp', 'up');
    ns.ip('addr', 'add', '198.18.0.1/24', 'dev', 'ul');
    ns.ip('link', 'set', 'ul', 'up');
    const run = netnsRunner(ns.name);
    const routes = new HostGwRoutes({ dev: 'ul', run, checkIntervalMs: 100 });
    await routes.set(cidr('10.244.2.0/24'), '198.18.0.2');
    await routes.set(cidr('10.244.3.0/24'), '198.18.0.3');
    await routes.set(cidr('10.244.3.0/24'), '198.18.0.4'); // the peer moved
    const show = async () => (await listRoutes(run, 'ul')).map((r) => `${formatCidr(r.dst)} via ${r.gateway}`).sort();
    assert.deepEqual(await show(), ['10.244.2.0/24 via 198.18.0.2', '10.244.3.0/24 via 198.18.0.4']);
    ns.ip('route', 'del', '10.244.2.0/24');
    assert.equal(await routes.reconcile(), 1);
    assert.deepEqual(await show(), ['10.244.2.0/24 via 198.18.0.2', '10.244.3.0/24 via 198.18.0.4']);
    await routes.delete(cidr('10.244.3.0/24'));
    assert.deepEqual(await show(), ['10.244.2.0/24 via 198.18.0.2']);
    await routes.removeAll();
    assert.deepEqual(await show(), []);
  });
});
