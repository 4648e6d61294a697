// Kubernetes mode with the udp and host-gw backends: two `weft run
// --kube-subnet-mgr` nodes each, against the test API server. The
// annotations are the ones flanneld writes for these backends (backend-type
// "" and backend-data "null" for udp, "host-gw" and "null" for host-gw; the
// patch body byte for byte), subnet.env has the backend's MTU, pods ping
// both ways and a checked transfer crosses each way; host-gw routes follow
// node additions and deletions, and ignore nodes of another backend.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeApiServer } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { ping, transfer } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { tableOf, until } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kP = 'flannel.alpha.coreos.com/';
const kNsPrefix = `k2-${process.pid}`;
const names = ['node-1', 'node-2'];
const cidrs = ['10.244.1.0/24', '10.244.2.0/24'];

const kBackends = [
  { type: 'udp', annotationType: '', mtu: 1472 },
  { type: 'host-gw', annotationType: 'host-gw', mtu: 1500 },
] as const;

for (const be of kBackends) {
  describe(`Kubernetes mode, ${be.type} backend: two weft nodes`, { skip }, () => {
    let c: Cluster;
    let api: KubeApiServer;
    let readyMs = 0;

    before(async () => {
      api = new KubeApiServer();
      await api.start();
      c = new Cluster(be.type === 'udp' ? 'kudp' : 'khgw', 2, `{"Network":"10.244.0.0/16","Backend":{"Type":"${be.type}"}}`, {
        prefix: kNsPrefix,
      });
      names.forEach((name, i) => api.addNode(name, { podCIDR: cidrs[i]! }));
      for (const n of c.nodes) api.proxyIn(n.ns);
      for (const n of c.nodes) await api.proxyReady(n.ns);
      const kubeconfig = api.kubeconfig();
      const t0 = Date.now();
      c.nodes.forEach((n, i) =>
        c.start(n, ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', c.configFile], { NODE_NAME: names[i]! }),
      );
      for (const n of c.nodes) {
        await n.agent!.waitReady();
        c.learn(n);
      }
      readyMs = Date.now() - t0;
    });
    after(async () => {
      await c?.destroy();
      await api?.destroy();
    });

    test(`the annotations are flanneld's for ${be.type}, the patch is its bytes, subnet.env has MTU ${be.mtu}`, () => {
      process.stderr.write(`# ${be.type}: both weft nodes ready ${readyMs} ms after start\n`);
      c.nodes.forEach((n, i) => {
        const name = names[i]!;
        const expected = {
          [`${kP}backend-data`]: 'null',
          [`${kP}backend-type`]: be.annotationType,
          [`${kP}kube-subnet-manager`]: 'true',
          [`${kP}public-ip`]: n.ip,
        };
        assert.deepEqual(api.nodes.get(name)!.metadata.annotations, expected);
        const patches = api.requests.filter((r) => r.method === 'PATCH' && r.path === `/api/v1/nodes/${name}/status`);
        assert.equal(
          patches[0]!.body,
          `{"metadata":{"annotations":{"${kP}backend-data":"null","${kP}backend-type":"${be.annotationType}","${kP}kube-subnet-manager":"true","${kP}public-ip":"${n.ip}"}}}`,
        );
        assert.equal(patches[0]!.contentType, 'application/strategic-merge-patch+json');
        assert.equal(n.subnet, cidrs[i]);
        assert.equal(
          readFileSync(n.subnetFile, 'utf8'),
          `FLANNEL_NETWORK=10.244.0.0/16\nFLANNEL_SUBNET=10.244.${i + 1}.1/24\nFLANNEL_MTU=${be.mtu}\nFLANNEL_IPMASQ=false\n`,
        );
      });
    });

    test(`each node forwards to the other over ${be.type}: ping both ways, checked transfers both ways`, async () => {
      const [a, b] = c.nodes as [Node, Node];
      for (const n of c.nodes) {
        const peer = c.nodes.find((p) => p !== n)!;
        if (be.type === 'udp') {
          await until(() => tableOf(n).entries.length === 1, 5000, 'udp peer in the table');
          assert.deepEqual(tableOf(n).entries, [{ subnet: peer.subnet, publicIp: peer.ip, backend: 'udp' }]);
          assert.match(n.ns.ip('link', 'show', 'flannel0'), /mtu 1472/);
        } else {
          await until(() => n.ns.ip('route', 'show', peer.subnet!).includes(`via ${peer.ip} dev ul`), 5000, 'host-gw route');
          assert.doesNotMatch(n.ns.ip('link', 'show'), /flannel/, 'host-gw has no device');
        }
      }
      assert.equal(ping(a.ns, b.pod!, { src: a.pod!, count: 3 }), 3, `${a.pod} -> ${b.pod}`);
      assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 3 }), 3, `${b.pod} -> ${a.pod}`);
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const r = await transfer(x.ns, y.ns, y.pod!, 4 << 20, { fromIp: x.pod! });
        assert.equal(r.serverSha256, r.sha256, `${x.pod} -> ${y.pod}`);
        assert.equal(r.serverBytes, 4 << 20);
      }
    });

    if (be.type === 'host-gw') {
      test("host-gw: a node added gets a route, one of another backend does not, a deleted one's route goes", async () => {
        const n = c.nodes[0]!;
        // The vxlan node first: once the later host-gw node's route is there, its event was handled.
        api.addNode('node-vx', {
          podCIDR: '10.244.31.0/24',
          annotations: {
            [`${kP}backend-data`]: '{"VNI":1,"VtepMAC":"0e:00:00:00:1f:00"}',
            [`${kP}backend-type`]: 'vxlan',
            [`${kP}kube-subnet-manager`]: 'true',
            [`${kP}public-ip`]: '198.18.0.31',
          },
        });
        api.addNode('node-hg', {
          podCIDR: '10.244.30.0/24',
          annotations: {
            [`${kP}backend-data`]: 'null',
            [`${kP}backend-type`]: 'host-gw',
            [`${kP}kube-subnet-manager`]: 'true',
            [`${kP}public-ip`]: '198.18.0.30',
          },
        });
        await until(() => n.ns.ip('route', 'show', '10.244.30.0/24').includes('via 198.18.0.30 dev ul'), 5000, 'route of the new node');
        assert.equal(n.ns.ip('route', 'show', '10.244.31.0/24').trim(), '', 'no route to a vxlan node');
        api.deleteNode('node-hg');
        await until(() => n.ns.ip('route', 'show', '10.244.30.0/24').trim() === '', 5000, 'route of the deleted node removed');
      });
    }
  });
}
