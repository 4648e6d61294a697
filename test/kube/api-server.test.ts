// The test API server speaks Kubernetes: kubectl (a real client) lists,
// annotates, patches the status subresource of, and deletes its nodes, and
// a watch sees each change, resumes from a version, and gets 410 once that
// version is compacted away.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { KubeApiServer } from '../helpers/kube-api-server';
import { Netns, e2eUnavailable } from '../helpers/netns';

const skip = e2eUnavailable();

describe('test API server driven by kubectl', { skip }, () => {
  let api: KubeApiServer;
  let ns: Netns;
  let kubeconfig: string;
  // Asynchronous: the API server runs in this process's event loop.
  const kubectl = (...args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) =>
      execFile(
        'ip',
        ['netns', 'exec', ns.name, 'kubectl', '--kubeconfig', kubeconfig, ...args],
        { encoding: 'utf8', timeout: 30_000 },
        (err, stdout, stderr) => resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
  const ok = async (...args: string[]): Promise<string> => {
    const r = await kubectl(...args);
    assert.equal(r.status, 0, `kubectl ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  };

  before(async () => {
    api = new KubeApiServer();
    await api.start();
    ns = new Netns('kubectl');
    api.proxyIn(ns);
    await api.proxyReady(ns);
    kubeconfig = api.kubeconfig();
    api.addNode('node-a', { podCIDR: '10.244.1.0/24' });
    api.addNode('node-b', { podCIDR: '10.244.2.0/24' });
  });
  after(async () => {
    await ns?.destroy();
    await api?.destroy();
  });

  test('get nodes -o json lists both nodes with their podCIDRs', async () => {
    const list = JSON.parse(await ok('get', 'nodes', '-o', 'json')) as {
      items: { metadata: { name: string }; spec: { podCIDR: string } }[];
    };
    assert.deepEqual(
      list.items.map((n) => [n.metadata.name, n.spec.podCIDR]),
      [
        ['node-a', '10.244.1.0/24'],
        ['node-b', '10.244.2.0/24'],
      ],
    );
  });

  test('annotate, then patch --subresource=status (strategic merge of conditions by type), then delete', async () => {
    await ok('annotate', 'node', 'node-a', 'flannel.alpha.coreos.com/public-ip-overwrite=203.0.113.7');
    assert.equal(api.nodes.get('node-a')!.metadata.annotations['flannel.alpha.coreos.com/public-ip-overwrite'], '203.0.113.7');
    const patch = (status: string) =>
      JSON.stringify({ status: { conditions: [{ type: 'NetworkUnavailable', status, reason: 'FlannelIsUp' }] } });
    await ok('patch', 'node', 'node-a', '--subresource=status', '--type=strategic', '-p', patch('True'));
    await ok(
      'patch',
      'node',
      'node-a',
      '--subresource=status',
      '--type=strategic',
      '-p',
      JSON.stringify({ status: { conditions: [{ type: 'Ready', status: 'True' }] } }),
    );
    await ok('patch', 'node', 'node-a', '--subresource=status', '--type=strategic', '-p', patch('False'));
    const conds = api.nodes.get('node-a')!.status.conditions.map((c) => [c.type, c.status]);
    assert.deepEqual(
      conds,
      [
        ['NetworkUnavailable', 'False'],
        ['Ready', 'True'],
      ],
      'merged by type, not replaced',
    );
    assert.equal(
      JSON.parse(await ok('get', 'node', 'node-a', '-o', 'json')).metadata.annotations['flannel.alpha.coreos.com/public-ip-overwrite'],
      '203.0.113.7',
    );
    await ok('delete', 'node', 'node-b');
    assert.equal(api.nodes.has('node-b'), false);
    const r = await kubectl('get', 'node', 'node-b');
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /NotFound|not found/);
  });

  test('a wrong token gets 401, a token without the verb gets 403 naming it', async () => {
    api.tokens.set('list-only', new Set(['nodes list']));
    const saved = kubeconfig;
    try {
      kubeconfig = api.kubeconfig('nope');
      assert.match((await kubectl('get', 'nodes')).stderr, /Unauthorized|must be logged in/);
      kubeconfig = api.kubeconfig('list-only');
      const r = await kubectl('annotate', 'node', 'node-a', 'x=y');
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /forbidden.*cannot (get|patch) resource "nodes"/);
    } finally {
      kubeconfig = saved;
    }
  });

  test('watch replays from a version, streams live changes, and answers 410 once that version is compacted', async () => {
    const rv = api.resourceVersion;
    api.updateNode('node-a', (n) => (n.metadata.annotations['k'] = 'v'));
    const w = await kubectl('get', '--raw', `/api/v1/nodes?watch=true&resourceVersion=${rv}&timeoutSeconds=1`);
    const events = w.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; object: { metadata: { annotations: Record<string, string> } } });
    assert.equal(events[0]!.type, 'MODIFIED');
    assert.equal(events[0]!.object.metadata.annotations['k'], 'v');
    api.compact();
    const g = await kubectl('get', '--raw', `/api/v1/nodes?watch=true&resourceVersion=${rv}`);
    const ev = JSON.parse(g.stdout.trim().split('\n')[0]!) as { type: string; object: { code: number; reason: string } };
    assert.deepEqual([ev.type, ev.object.code, ev.object.reason], ['ERROR', 410, 'Expired']);
  });
});
