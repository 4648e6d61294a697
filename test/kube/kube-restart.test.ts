// Kubernetes mode across restarts: the VtepMAC comes from the node's own
// backend-data annotation, as flanneld takes it (flannel-facts §3, "VTEP MAC
// persistence"). node-1 starts with the annotations an earlier flanneld (or
// weft) run left; node-2 starts bare and publishes a new MAC. Restarted with
// SIGTERM, and again after `weft cleanup` removed the state file and table
// (so only the annotation remembers the MAC), each node keeps its MAC: the
// annotation is unchanged, no annotation patch is sent, the data plane's
// VtepMAC (weft's flannel.1 is a TUN device: the MAC lives in its table)
// equals the annotation's, and the pods still reach each other.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeApiServer } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { tableOf, type WeftAgent, weftCli } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const kP = 'flannel.alpha.coreos.com/';
const kNsPrefix = `k2-${process.pid}`;
const kEarlierMac = '0e:2a:0a:f4:01:01';
const names = ['node-1', 'node-2'];

describe('Kubernetes mode: restarts keep the VtepMAC of the node annotation', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  let kubeconfig: string;

  const annotations = (i: number): Record<string, string> => ({ ...api.nodes.get(names[i]!)!.metadata.annotations });
  const macOf = (i: number): string => (JSON.parse(annotations(i)[`${kP}backend-data`]!) as { VtepMAC: string }).VtepMAC;
  const annotationPatches = (i: number, from = 0) =>
    api.requests
      .slice(from)
      .filter((r) => r.method === 'PATCH' && r.path === `/api/v1/nodes/${names[i]}/status` && r.body.startsWith('{"metadata":'));
  const start = async (i: number): Promise<WeftAgent> => {
    const n = c.nodes[i]!;
    const a = c.start(n, ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', c.configFile], {
      NODE_NAME: names[i]!,
    });
    await a.waitReady();
    c.learn(n);
    return a;
  };
  const pingBoth = (): void => {
    const [a, b] = c.nodes as [Node, Node];
    assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 2 }), 2, `${a.pod} -> ${b.pod}`);
    assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 2 }), 2, `${b.pod} -> ${a.pod}`);
  };
  /** Both nodes know each other with the MACs of the annotations. */
  const peersProgrammed = async (): Promise<void> => {
    for (const [i, n] of c.nodes.entries()) {
      const j = 1 - i;
      for (let t = 0; t < 100; t++) {
        if (tableOf(n).entries.some((e) => e.subnet === c.nodes[j]!.subnet && e.vtepMac === macOf(j))) return pingBoth();
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`${names[i]} has no entry for ${names[j]} with ${macOf(j)}: ${JSON.stringify(tableOf(n).entries)}`);
    }
  };

  before(async () => {
    api = new KubeApiServer();
    await api.start();
    c = new Cluster('krst', 2, kConfig, { prefix: kNsPrefix });
    api.addNode('node-1', {
      podCIDR: '10.244.1.0/24',
      annotations: {
        [`${kP}backend-data`]: `{"VNI":1,"VtepMAC":"${kEarlierMac}"}`,
        [`${kP}backend-type`]: 'vxlan',
        [`${kP}kube-subnet-manager`]: 'true',
        [`${kP}public-ip`]: c.nodes[0]!.ip,
      },
    });
    api.addNode('node-2', { podCIDR: '10.244.2.0/24' });
    for (const n of c.nodes) api.proxyIn(n.ns);
    for (const n of c.nodes) await api.proxyReady(n.ns);
    kubeconfig = api.kubeconfig();
    await start(0);
    await start(1);
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  test('first start: node-1 reuses the VtepMAC of its annotation (no annotation patch), node-2 publishes a new one', async () => {
    assert.equal(macOf(0), kEarlierMac);
    assert.equal(tableOf(c.nodes[0]!).vtepMac, kEarlierMac);
    assert.match(c.nodes[0]!.agent!.stderr, new RegExp(`msg=VtepMAC vtepMac=${kEarlierMac} from=store`));
    assert.deepEqual(annotationPatches(0), [], 'node-1: its annotations already said it all');
    assert.equal(annotationPatches(1).length, 1);
    assert.match(c.nodes[1]!.agent!.stderr, /msg=VtepMAC vtepMac=\S+ from=new/);
    assert.equal(tableOf(c.nodes[1]!).vtepMac, macOf(1));
    await peersProgrammed();
  });

  test('SIGTERM and run again: annotations unchanged, no annotation patch, the data plane has the MAC of the annotation', async () => {
    const before = [annotations(0), annotations(1)];
    const mark = api.requests.length;
    for (const n of c.nodes) assert.equal((await n.agent!.stop()).code, 0);
    for (const i of [0, 1]) {
      const a = await start(i);
      assert.match(a.stderr, new RegExp(`msg=VtepMAC vtepMac=${macOf(i)} from=store`));
      assert.equal(tableOf(c.nodes[i]!).vtepMac, macOf(i));
    }
    assert.deepEqual([annotations(0), annotations(1)], before);
    for (const i of [0, 1]) assert.deepEqual(annotationPatches(i, mark), [], `${names[i]}: no annotation patch after a restart`);
    await peersProgrammed();
  });

  test('after weft cleanup (no state file, no table): the MAC still comes from the annotation', async () => {
    const before = [annotations(0), annotations(1)];
    const mark = api.requests.length;
    for (const n of c.nodes) {
      const tablePath = tableOf(n).tablePath;
      assert.equal((await n.agent!.stop()).code, 0);
      const r = weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!existsSync(`${n.subnetFile}.weft.json`) && !existsSync(tablePath), 'state file and table removed');
    }
    for (const i of [0, 1]) {
      const a = await start(i);
      assert.match(a.stderr, new RegExp(`msg=VtepMAC vtepMac=${macOf(i)} from=store`));
      assert.doesNotMatch(a.stderr, /re-attached/);
      assert.equal(tableOf(c.nodes[i]!).vtepMac, macOf(i));
    }
    assert.deepEqual([annotations(0), annotations(1)], before);
    for (const i of [0, 1]) assert.deepEqual(annotationPatches(i, mark), []);
    assert.equal(macOf(0), kEarlierMac);
    await peersProgrammed();
  });
});
