// Kubernetes mode with bad input: flannel's message and behaviour for a
// missing podCIDR (waits and retries) and one outside Network (exit 1,
// naming both), one clear line for 401 and for a missing RBAC verb, exit 2
// for a kubeconfig that is not there; nothing configured when it fails.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { KubeApiServer } from '../helpers/kube-api-server';
import { e2eUnavailable } from '../helpers/netns';
import { Cluster, type Node } from '../helpers/weft-cluster';
import { type WeftAgent } from '../helpers/weft-agent';

const skip = e2eUnavailable();
const kConfig = '{"Network":"10.244.0.0/16","Backend":{"Type":"vxlan"}}';

describe('Kubernetes mode: bad input', { skip }, () => {
  let c: Cluster;
  let api: KubeApiServer;
  let n: Node;

  before(async () => {
    api = new KubeApiServer();
    await api.start();
    c = new Cluster('kubebad', 1, kConfig);
    n = c.nodes[0]!;
    api.proxyIn(n.ns);
    await api.proxyReady(n.ns);
  });
  after(async () => {
    await c?.destroy();
    await api?.destroy();
  });

  const start = (node: string, token = 'admin-token', extra: string[] = []): WeftAgent =>
    c.start(n, ['--kube-subnet-mgr', '--kubeconfig-file', api.kubeconfig(token), '--net-config-path', c.configFile, ...extra], {
      NODE_NAME: node,
    });
  const nothingConfigured = (): void => {
    assert.equal(existsSync(n.subnetFile), false, 'no subnet.env');
    assert.doesNotMatch(n.ns.ip('-o', 'link', 'show'), /flannel\.1/, 'no flannel.1 device');
  };

  test("a node without podCIDR: flannel's message, retried until the podCIDR is assigned, then ready", async () => {
    api.addNode('late', {});
    const a = start('late');
    await a.waitLog(/node \\"late\\" pod cidr not assigned|node "late" pod cidr not assigned/, 15_000);
    nothingConfigured();
    api.updateNode('late', (node) => {
      node.spec.podCIDR = '10.244.7.0/24';
      node.spec.podCIDRs = ['10.244.7.0/24'];
    });
    await a.waitReady(20_000);
    assert.ok(existsSync(n.subnetFile));
    await a.stop();
    c.learn(n);
    assert.equal(n.subnet, '10.244.7.0/24');
  });

  test('a podCIDR outside Network: exit 1, the message names both, nothing configured', async () => {
    api.addNode('outside', { podCIDR: '10.99.1.0/24' });
    const a = start('outside', 'admin-token', ['--subnet-file', `${n.dir}/outside.env`]);
    await a.exited;
    assert.equal(a.exitCode, 1, a.stderr);
    assert.match(
      a.stderr,
      /subnet \\?"10\.244\.0\.0\/16\\?" specified in the flannel net config doesn't contain \\?"10\.99\.1\.0\/24\\?" PodCIDR of the \\?"outside\\?" node/,
    );
    assert.equal(existsSync(`${n.dir}/outside.env`), false);
  });

  test('401 and 403: one error line each, naming the credentials or the missing verb', async () => {
    api.addNode('rbac', { podCIDR: '10.244.8.0/24' });
    const bad = start('rbac', 'wrong-token', ['--subnet-file', `${n.dir}/401.env`]);
    await bad.exited;
    assert.equal(bad.exitCode, 1, bad.stderr);
    assert.equal(bad.errorLines().length, 1, bad.stderr);
    assert.match(bad.errorLines()[0]!, /refused the credentials \(401 Unauthorized\)/);
    api.tokens.set('no-patch', new Set(['nodes get', 'nodes list', 'nodes watch', 'pods get']));
    const noPatch = start('rbac', 'no-patch', ['--subnet-file', `${n.dir}/403.env`]);
    await noPatch.exited;
    assert.equal(noPatch.exitCode, 1, noPatch.stderr);
    assert.equal(noPatch.errorLines().length, 1, noPatch.stderr);
    assert.match(noPatch.errorLines()[0]!, /403 Forbidden\): the ClusterRole must grant verb \\?"patch\\?" on \\?"nodes\/status\\?"/);
    assert.equal(existsSync(`${n.dir}/403.env`), false);
  });

  test('a kubeconfig that does not exist: exit 2, naming --kubeconfig-file', async () => {
    const a = c.start(n, ['--kube-subnet-mgr', '--kubeconfig-file', '/nonexistent/kubeconfig', '--net-config-path', c.configFile], {
      NODE_NAME: 'x',
    });
    await a.exited;
    assert.equal(a.exitCode, 2, a.stderr);
    assert.match(a.stderr, /--kubeconfig-file \/nonexistent\/kubeconfig cannot be read/);
  });
});
