// Kubernetes mode credentials, the two ways flanneld gets them besides a
// token kubeconfig:
//
// In-cluster: no --kubeconfig-file; KUBERNETES_SERVICE_HOST/PORT, the
// service account's token and ca.crt (in $WEFT_SERVICE_ACCOUNT_DIR here, the
// pod's /var/run/secrets/kubernetes.io/serviceaccount otherwise), and the node
// found from POD_NAME/POD_NAMESPACE (the pod's spec.nodeName), as
// kube-flannel.yml runs flanneld. The token has exactly the manifest's RBAC
// verbs; every request carries it; when the token file is rotated (and the
// old token revoked), the next requests carry the new one.
//
// A kubeconfig with a client certificate and key, against a test server that
// requires one (TLS without a certificate from its CA is refused): by files
// named relative to the kubeconfig, and inline (-data). The server sees the
// certificate's CN on every request and no token; a certificate from another
// CA gets nowhere. The server sits under a path (https://127.0.0.1:6443/k8s/clusters/c-1,
// as behind a Rancher-style proxy): every request must keep that prefix.

import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeApiServer, makeCerts, makeClientCert } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { ping } from '../helpers/overlay';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { until } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';
const kP = 'flannel.alpha.coreos.com/';
const kNsPrefix = `k2-${process.pid}`;
/** The ClusterRole of `weft manifest` (and kube-flannel.yml). */
const kFlannelRbac = (): Set<string> => new Set(['pods get', 'nodes get', 'nodes list', 'nodes watch', 'nodes/status patch']);

describe('Kubernetes mode in-cluster: service-account token and CA, node from the pod', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  let sa: string;
  let n: Node;

  before(async () => {
    api = new KubeApiServer();
    api.tokens.delete('admin-token');
    api.tokens.set('sa-token-1', kFlannelRbac());
    await api.start();
    c = new Cluster('kic', 1, kConfig, { prefix: kNsPrefix });
    n = c.nodes[0]!;
    sa = join(c.dir, 'serviceaccount');
    mkdirSync(sa);
    writeFileSync(join(sa, 'token'), 'sa-token-1');
    copyFileSync(api.certs.ca, join(sa, 'ca.crt'));
    writeFileSync(join(sa, 'namespace'), 'kube-flannel');
    api.addNode('node-ic', { podCIDR: '10.244.5.0/24' });
    api.pods.set('kube-flannel/weft-x7k2p', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'weft-x7k2p', namespace: 'kube-flannel' },
      spec: { nodeName: 'node-ic', hostNetwork: true },
    });
    api.proxyIn(n.ns);
    await api.proxyReady(n.ns);
    c.start(n, ['--kube-subnet-mgr', '--net-config-path', c.configFile], {
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KUBERNETES_SERVICE_PORT: '6443',
      WEFT_SERVICE_ACCOUNT_DIR: sa,
      POD_NAME: 'weft-x7k2p',
      POD_NAMESPACE: 'kube-flannel',
      NODE_NAME: '',
    });
    await n.agent!.waitReady();
    c.learn(n);
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  test("ready with the pod's node's podCIDR; every request carries the service-account token; the node is annotated", async () => {
    assert.equal(n.subnet, '10.244.5.0/24');
    assert.ok(api.requests.length >= 5);
    assert.deepEqual(new Set(api.requests.map((r) => r.token)), new Set(['sa-token-1']));
    assert.deepEqual(
      [api.requests[0]!.method, api.requests[0]!.path],
      ['GET', '/api/v1/namespaces/kube-flannel/pods/weft-x7k2p'],
      'first the pod, for its spec.nodeName',
    );
    assert.equal(api.requests.filter((r) => r.path.includes('/pods/')).length, 1, 'the pod is read once');
    const a = api.nodes.get('node-ic')!.metadata.annotations;
    assert.equal(a[`${kP}kube-subnet-manager`], 'true');
    assert.equal(a[`${kP}public-ip`], n.ip);
    await n.agent!.waitLog(/msg="store watch opened" store="kube https:\/\/127\.0\.0\.1:6443"/, 5000);
    const seq = api.requests.map((r) => `${r.method} ${r.path.split('?')[0]}${r.path.includes('watch=true') ? ' (watch)' : ''}`);
    process.stderr.write(`# in-cluster startup, in order: ${seq.join(', ')}\n`);
    process.stderr.write(
      `# requests weft made in-cluster:\n${api
        .requestSummary()
        .map((l) => `#   ${l}`)
        .join('\n')}\n`,
    );
  });

  test('a rotated token (file replaced, the old one revoked) is used from the next request on', async () => {
    api.tokens.set('sa-token-2', kFlannelRbac());
    // As the kubelet rotates a projected token: a new file moved into place.
    writeFileSync(join(sa, 'token.tmp'), 'sa-token-2\n');
    renameSync(join(sa, 'token.tmp'), join(sa, 'token'));
    api.tokens.delete('sa-token-1');
    const mark = api.requests.length;
    await until(
      () => api.requests.slice(mark).some((r) => r.token === 'sa-token-2' && r.path === '/api/v1/nodes/node-ic'),
      10_000,
      'probe with the new token',
    );
    api.endWatches();
    await until(
      () => api.requests.slice(mark).some((r) => r.token === 'sa-token-2' && r.path.includes('watch=true')),
      10_000,
      'watch with the new token',
    );
    const after = api.requests.slice(mark);
    // A request already on its way may still carry the old token; none after the first new one.
    const first = after.findIndex((r) => r.token === 'sa-token-2');
    assert.deepEqual(
      after.slice(first).filter((r) => r.token !== 'sa-token-2'),
      [],
      'only the new token after the rotation',
    );
    assert.equal(n.agent!.errorLines().length, 0, n.agent!.stderr);
    assert.ok(n.agent!.running);
  });
});

describe('Kubernetes mode with a client-certificate kubeconfig, the server requiring one', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  const names = ['node-c1', 'node-c2'];
  const cn = (name: string): string => `system:node:${name}`;

  before(async () => {
    api = new KubeApiServer({ clientCerts: 'require', pathPrefix: '/k8s/clusters/c-1' });
    api.tokens.delete('admin-token');
    for (const name of names) api.certUsers.set(cn(name), kFlannelRbac());
    await api.start();
    c = new Cluster('kcert', 3, kConfig, { prefix: kNsPrefix });
    names.forEach((name, i) => api.addNode(name, { podCIDR: `10.244.${11 + i}.0/24` }));
    for (const n of c.nodes) api.proxyIn(n.ns);
    for (const n of c.nodes) await api.proxyReady(n.ns);
    const dir = join(c.dir, 'kubeconfigs');
    mkdirSync(dir);
    const configs = [api.kubeconfigCert(cn(names[0]!), { files: true, dir }), api.kubeconfigCert(cn(names[1]!), { dir })];
    names.forEach((name, i) =>
      c.start(c.nodes[i]!, ['--kube-subnet-mgr', '--kubeconfig-file', configs[i]!, '--net-config-path', c.configFile], { NODE_NAME: name }),
    );
    for (const n of c.nodes.slice(0, 2)) {
      await n.agent!.waitReady();
      c.learn(n);
    }
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  test('both nodes are ready; every request is authenticated by its certificate (CN seen, no token); pods reach each other', () => {
    for (const name of names) {
      const mine = api.requests.filter((r) => r.clientCN === cn(name));
      assert.ok(mine.length >= 5, `${name}: ${mine.length} requests`);
      assert.ok(
        mine.some((r) => r.method === 'PATCH' && r.path === `/api/v1/nodes/${name}/status`),
        `${name} patched its status`,
      );
      assert.equal(api.nodes.get(name)!.metadata.annotations[`${kP}kube-subnet-manager`], 'true');
    }
    assert.deepEqual(new Set(api.requests.map((r) => r.clientCN)), new Set(names.map(cn)), 'no request without a certificate');
    assert.deepEqual(new Set(api.requests.map((r) => r.token)), new Set([undefined]), 'no token sent');
    assert.deepEqual(api.unprefixed, [], "every request under the server URL's path");
    const [a, b] = c.nodes as [Node, Node];
    assert.equal(c.nodes[0]!.subnet, '10.244.11.0/24');
    assert.equal(c.nodes[1]!.subnet, '10.244.12.0/24');
    return until(() => ping(a.ns, b.pod!, { src: a.pod!, count: 1 }) === 1, 10_000, 'a -> b').then(() =>
      assert.equal(ping(b.ns, a.pod!, { src: b.pod!, count: 2 }), 2),
    );
  });

  test('a certificate from another CA: TLS refused, nothing recorded, the agent retries and is not ready', async () => {
    const other = join(c.dir, 'other-ca');
    mkdirSync(other);
    makeCerts(other);
    const rogue = makeClientCert(other, cn('node-c3'));
    api.certUsers.set(cn('node-c3'), kFlannelRbac());
    api.addNode('node-c3', { podCIDR: '10.244.13.0/24' });
    const n = c.nodes[2]!;
    const mark = api.requests.length;
    const a = c.start(
      n,
      ['--kube-subnet-mgr', '--kubeconfig-file', api.kubeconfigCert(cn('node-c3'), { cert: rogue }), '--net-config-path', c.configFile],
      { NODE_NAME: 'node-c3' },
    );
    await a.waitLog(/level=warn msg="cannot .*, retrying".*Kubernetes API https:\/\/127\.0\.0\.1:6443/, 15_000);
    assert.ok(a.running, 'it waits for the API, as flanneld');
    assert.doesNotMatch(a.stderr, / msg=ready /);
    assert.equal(
      api.requests.slice(mark).filter((r) => r.clientCN === cn('node-c3')).length,
      0,
      'no request got through with the rogue certificate',
    );
    assert.deepEqual(api.nodes.get('node-c3')!.metadata.annotations, {}, 'nothing published');
    await a.stop();
  });
});
