// Kubernetes mode end to end: two `weft run --kube-subnet-mgr` vxlan nodes
// and one kernel flannel.1 node programmed from the weft nodes' annotations
// as flanneld does (neighbour, FDB, onlink route), against the test API
// server. Every directed pair pings, checked transfers cross weft↔kernel,
// the patches are the bytes flanneld sends, subnet.env comes from the
// podCIDR, and node changes reach the tables as flannel's informer applies them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import type { DataPlaneStats } from '../../src/dataplane/stats';
import { KubeApiServer } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { kernelVxlanNode, kernelVxlanPeer, ping, transfer } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { httpGet, tableOf, until } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const kP = 'flannel.alpha.coreos.com/';
const kKernelMac = '0e:2a:0a:f4:63:00';
const kCidrs = ['10.244.1.0/24', '10.244.2.0/24', '10.244.99.0/24'];

describe('Kubernetes mode: two weft vxlan nodes and a kernel flannel.1 node', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  let weft: Node[];
  let kernel: Node;
  const names = ['node-1', 'node-2', 'node-k'];
  let readyMs = 0;

  before(async () => {
    api = new KubeApiServer();
    await api.start();
    c = new Cluster('kube', 3, kConfig);
    weft = [c.nodes[0]!, c.nodes[1]!];
    kernel = c.nodes[2]!;
    api.addNode('node-1', { podCIDR: kCidrs[0]! });
    api.addNode('node-2', { podCIDR: kCidrs[1]! });
    // The flanneld node, annotated exactly as flanneld annotates it.
    api.addNode('node-k', {
      podCIDR: kCidrs[2]!,
      annotations: {
        [`${kP}backend-data`]: `{"VNI":1,"VtepMAC":"${kKernelMac}"}`,
        [`${kP}backend-type`]: 'vxlan',
        [`${kP}kube-subnet-manager`]: 'true',
        [`${kP}public-ip`]: kernel.ip,
      },
    });
    kernelVxlanNode(kernel.ns, { publicIp: kernel.ip, subnet: kCidrs[2]!, mac: kKernelMac });
    kernel.subnet = kCidrs[2]!;
    kernel.pod = '10.244.99.5';
    kernel.ns.ip('addr', 'add', '10.244.99.5/32', 'dev', 'lo');
    const kubeconfig = api.kubeconfig();
    for (const n of weft) api.proxyIn(n.ns);
    for (const n of weft) await api.proxyReady(n.ns);
    const t0 = Date.now();
    weft.forEach((n, i) =>
      c.start(
        n,
        [
          '--kube-subnet-mgr',
          '--kubeconfig-file',
          kubeconfig,
          '--net-config-path',
          c.configFile,
          '--healthz-port',
          '10256',
          '--healthz-ip',
          '127.0.0.1',
        ],
        {
          NODE_NAME: names[i]!,
        },
      ),
    );
    for (const n of weft) {
      await n.agent!.waitReady();
      c.learn(n);
    }
    readyMs = Date.now() - t0;
    // flanneld on the kernel node: program every weft node from its annotations.
    for (const name of ['node-1', 'node-2']) {
      const a = api.nodes.get(name)!.metadata.annotations;
      const mac = (JSON.parse(a[`${kP}backend-data`]!) as { VtepMAC: string }).VtepMAC;
      kernelVxlanPeer(kernel.ns, { subnet: api.nodes.get(name)!.spec.podCIDR!, publicIp: a[`${kP}public-ip`]!, mac });
    }
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  test('each weft node took its podCIDR, wrote subnet.env from it, and is ready', () => {
    process.stderr.write(`# both weft nodes ready ${readyMs} ms after start\n`);
    weft.forEach((n, i) => {
      assert.equal(n.subnet, kCidrs[i]);
      assert.equal(
        readFileSync(n.subnetFile, 'utf8'),
        `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${i + 1}.1/24\nFLANNEL_MTU=1450\nFLANNEL_IPMASQ=false\n`,
      );
      assert.equal(httpGet(n.ns, 'http://127.0.0.1:10256/readyz').status, 200);
    });
  });

  test('the annotation patch and the condition patch are the bytes flanneld sends, on nodes/<n>/status', async () => {
    for (const [i, name] of ['node-1', 'node-2'].entries()) {
      // The condition patch follows ready: wait for it before counting the patches.
      await until(() => api.nodes.get(name)!.status.conditions.length > 0, 10_000, `${name} condition`);
      const patches = api.requests.filter((r) => r.method === 'PATCH' && r.path === `/api/v1/nodes/${name}/status`);
      assert.ok(patches.length >= 2, `${name}: ${patches.length} patches`);
      assert.ok(patches.every((p) => p.contentType === 'application/strategic-merge-patch+json'));
      const mac =
        tableOf(weft[i]!).vtepMac ??
        (JSON.parse(api.nodes.get(name)!.metadata.annotations[`${kP}backend-data`]!) as { VtepMAC: string }).VtepMAC;
      assert.equal(
        patches[0]!.body,
        `{"metadata":{"annotations":{"${kP}backend-data":"{\\"VNI\\":1,\\"VtepMAC\\":\\"${mac}\\"}","${kP}backend-type":"vxlan","${kP}kube-subnet-manager":"true","${kP}public-ip":"${weft[i]!.ip}"}}}`,
      );
      const cond = api.nodes.get(name)!.status.conditions[0]!;
      assert.deepEqual(
        [cond.type, cond.status, cond.reason, cond.message],
        ['NetworkUnavailable', 'False', 'FlannelIsUp', 'Flannel is running on this node'],
      );
      const condPatch = patches.find((p) => p.body.startsWith('{"status":'))!;
      assert.match(
        condPatch.body,
        /^\{"status":\{"conditions":\[\{"type":"NetworkUnavailable","status":"False","lastHeartbeatTime":"[0-9T:-]+Z","lastTransitionTime":"[0-9T:-]+Z","reason":"FlannelIsUp","message":"Flannel is running on this node"\}\]\}\}$/,
      );
    }
    // Requests weft makes: only the verbs the manifest's ClusterRole grants.
    const verbs = new Set(
      api.requests.map(
        (r) => `${r.method} ${r.path.split('?')[0]!.replace(/node-[12k]/, '<n>')}${r.path.includes('watch=true') ? ' (watch)' : ''}`,
      ),
    );
    assert.deepEqual([...verbs].sort(), [
      'GET /api/v1/nodes',
      'GET /api/v1/nodes (watch)',
      'GET /api/v1/nodes/<n>',
      'PATCH /api/v1/nodes/<n>/status',
    ]);
  });

  test('all six directed pod pairs ping, and checked transfers cross weft <-> kernel both ways', async () => {
    for (const from of c.nodes) {
      for (const to of c.nodes) {
        if (from === to) continue;
        assert.equal(ping(from.ns, to.pod!, { src: from.pod!, count: 3 }), 3, `${from.pod} -> ${to.pod}`);
      }
    }
    for (const [a, b] of [
      [weft[0]!, kernel],
      [kernel, weft[1]!],
    ] as const) {
      const r = await transfer(a.ns, b.ns, b.pod!, 4 << 20, { fromIp: a.pod! });
      assert.equal(r.serverSha256, r.sha256, `${a.pod} -> ${b.pod}`);
      assert.equal(r.serverBytes, 4 << 20);
    }
  });

  test('a public-ip change is applied, a podCIDR-only change is ignored, a deleted node leaves every table within 2 s', async () => {
    const n1 = weft[0]!;
    const entry = (s: DataPlaneStats, subnet: string) => s.entries.find((e) => e.subnet === subnet);
    api.updateNode('node-k', (n) => (n.metadata.annotations[`${kP}public-ip`] = '198.18.0.77'));
    await until(() => entry(tableOf(n1), kCidrs[2]!)?.publicIp === '198.18.0.77', 5000, 'new public-ip in the table');
    api.updateNode('node-k', (n) => {
      n.spec.podCIDR = '10.244.98.0/24';
      n.spec.podCIDRs = ['10.244.98.0/24'];
    });
    api.bookmark();
    await new Promise((r) => setTimeout(r, 1000));
    assert.ok(entry(tableOf(n1), kCidrs[2]!), 'the old podCIDR stays (flannel does not notice a podCIDR change)');
    assert.equal(entry(tableOf(n1), '10.244.98.0/24'), undefined);
    const t0 = Date.now();
    api.deleteNode('node-k');
    for (const n of weft) await until(() => entry(tableOf(n), kCidrs[2]!) === undefined, 2000, `node-k gone from ${n.ns.name}`);
    process.stderr.write(`# node deletion left both tables in ${Date.now() - t0} ms\n`);
  });

  test('a malformed annotation on another node is skipped, logged once and counted', async () => {
    api.addNode('node-bad', {
      podCIDR: '10.244.50.0/24',
      annotations: {
        [`${kP}kube-subnet-manager`]: 'true',
        [`${kP}public-ip`]: 'not-an-ip',
        [`${kP}backend-type`]: 'vxlan',
        [`${kP}backend-data`]: '{',
      },
    });
    await until(() => /skipping node with malformed flannel annotations/.test(weft[0]!.agent!.stderr), 5000, 'log line');
    api.updateNode('node-bad', (n) => (n.metadata.labels['x'] = 'y'));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(weft[0]!.agent!.stderr.match(/skipping node with malformed/g)!.length, 1, 'logged once');
    assert.match(httpGet(weft[0]!.ns, 'http://127.0.0.1:10256/metrics').body, /^weft_skipped_peers_total 1$/m);
    assert.equal(
      tableOf(weft[0]!).entries.find((e) => e.subnet === '10.244.50.0/24'),
      undefined,
    );
  });
});
