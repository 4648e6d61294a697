// `weft manifest`: every document validates against the Kubernetes API
// schemas (kubernetes-models), the ClusterRole grants exactly the verbs
// weft's kube subnet manager uses, and the DaemonSet's weft command line is
// accepted by `weft run`'s own flag parser.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ConfigMap, Namespace, ServiceAccount } from 'kubernetes-models/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { parseFlags } from '../../src/cli/flags';
import { RUN_FLAGS, agentOptionsFromFlags } from '../../src/cli/run-command';
import { Logger } from '../../src/cli/logger';
import { parseNetworkConfig } from '../../src/config/network-config';
import { formatCidr } from '../../src/net/cidr';
import { formatCidr6 } from '../../src/net/cidr6';

const kMain = join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const weft = (...args: string[]) => spawnSync(process.execPath, [kMain, ...args], { encoding: 'utf8' });

type Doc = { kind: string; metadata: { name: string }; [k: string]: unknown };

function docs(...args: string[]): Doc[] {
  const r = weft('manifest', ...args);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS() as Doc);
}

test('every document validates against the Kubernetes API schema of its kind', () => {
  const models: Record<string, new (d: never) => { validate(): void }> = {
    Namespace,
    ServiceAccount,
    ClusterRole,
    ClusterRoleBinding,
    ConfigMap,
    DaemonSet,
  };
  const all = docs('--image', 'registry.example/weft:0.1.0');
  assert.deepEqual(
    all.map((d) => d.kind),
    ['Namespace', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet'],
  );
  for (const d of all) assert.doesNotThrow(() => new models[d.kind]!(d as never).validate(), `${d.kind} ${d.metadata.name}`);
  // The schema check itself catches a wrong type (it is not a no-op).
  const ds = structuredClone(all[5]!) as unknown as { spec: { template: { spec: { containers: { image: unknown }[] } } } };
  ds.spec.template.spec.containers[0]!.image = 5;
  assert.throws(() => new DaemonSet(ds as never).validate(), /image must be string/);
});

test('the ClusterRole grants exactly pods get, nodes get/list/watch and nodes/status patch', () => {
  const role = docs('--image', 'w:1').find((d) => d.kind === 'ClusterRole') as unknown as {
    rules: { resources: string[]; verbs: string[] }[];
  };
  const grants = role.rules.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${res} ${v}`))).sort();
  assert.deepEqual(grants, ['nodes get', 'nodes list', 'nodes watch', 'nodes/status patch', 'pods get']);
});

test("the DaemonSet: weft run --kube-subnet-mgr accepted by run's flag parser, probes, mounts, env, affinity, upgrade strategy", () => {
  const all = docs(
    '--image',
    'w:1',
    '--backend',
    'udp',
    '--network',
    '10.42.0.0/16',
    '--node-selector',
    'weft/on=yes',
    '--namespace',
    'net',
  );
  const ds = all.find((d) => d.kind === 'DaemonSet') as unknown as {
    metadata: { namespace: string };
    spec: {
      updateStrategy: { rollingUpdate: { maxSurge: number; maxUnavailable: number } };
      template: {
        spec: Record<string, unknown> & {
          containers: Record<string, unknown>[];
          initContainers: { image: string }[];
          volumes: { hostPath?: { path: string } }[];
        };
      };
    };
  };
  const pod = ds.spec.template.spec;
  const c = pod.containers[0] as {
    command: string[];
    args: string[];
    env: { name: string; valueFrom: { fieldRef: { fieldPath: string } } }[];
    readinessProbe: { httpGet: { path: string; port: number } };
    livenessProbe: { httpGet: { path: string } };
    securityContext: { capabilities: { add: string[] } };
  };
  assert.deepEqual(c.command, ['weft']);
  assert.equal(c.args[0], 'run');
  const parsed = parseFlags(RUN_FLAGS, c.args.slice(1));
  assert.deepEqual(parsed.rest, []);
  const o = agentOptionsFromFlagsSafe(parsed.values);
  assert.equal(o.ipMasq, true);
  assert.ok(o.kube, 'kube mode');
  assert.equal(parsed.values['net-config-path'], '/etc/kube-flannel/net-conf.json');
  assert.equal(c.readinessProbe.httpGet.path, '/readyz');
  assert.equal(c.livenessProbe.httpGet.path, '/healthz');
  assert.equal(c.readinessProbe.httpGet.port, parsed.values['healthz-port']);
  assert.deepEqual(c.securityContext.capabilities.add, ['NET_ADMIN', 'NET_RAW']);
  assert.equal(c.env.find((e) => e.name === 'NODE_NAME')!.valueFrom.fieldRef.fieldPath, 'spec.nodeName');
  assert.equal(pod.hostNetwork, true);
  const paths = pod.volumes.map((v) => v.hostPath?.path).filter(Boolean);
  for (const p of ['/dev/net/tun', '/run/flannel', '/etc/cni/net.d', '/opt/cni/bin']) assert.ok(paths.includes(p), p);
  assert.match(pod.initContainers[0]!.image, /^docker\.io\/flannel\/flannel-cni-plugin:/);
  assert.deepEqual(ds.spec.updateStrategy.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  assert.equal(ds.metadata.namespace, 'net');
  assert.match(JSON.stringify(pod.affinity), /"key":"weft\/on","operator":"In","values":\["yes"\]/);
  const cm = all.find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
  assert.deepEqual(JSON.parse(cm.data['net-conf.json']!).Backend, { Type: 'udp' });
  assert.equal(JSON.parse(cm.data['net-conf.json']!).Network, '10.42.0.0/16');
  assert.deepEqual(
    (JSON.parse(cm.data['cni-conf.json']!) as { plugins: { type: string }[] }).plugins.map((p) => p.type),
    ['flannel', 'portmap'],
  );
});

/** agentOptionsFromFlags reads net-conf.json, which exists only in the pod: check everything but that read. */
function agentOptionsFromFlagsSafe(values: ReturnType<typeof parseFlags>['values']) {
  try {
    return agentOptionsFromFlags(values, new Logger('error'));
  } catch (err) {
    assert.match((err as Error).message, /--net-config-path \/etc\/kube-flannel\/net-conf.json cannot be read/);
    return agentOptionsFromFlags({ ...values, 'net-config-path': __filename }, new Logger('error'));
  }
}

test("--ipv6-network and --enable-ipv4=false write flannel's dual-stack and IPv6-only net-conf.json, as weft run reads it", () => {
  const netConf = (...args: string[]) => {
    const cm = docs('--image', 'w', ...args).find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    return cm.data['net-conf.json']!;
  };
  const dual = netConf('--ipv6-network', 'fd00:10:244::/56');
  assert.deepEqual(Object.keys(JSON.parse(dual) as object), ['Network', 'EnableIPv6', 'IPv6Network', 'EnableNFTables', 'Backend']);
  const d = parseNetworkConfig(dual);
  assert.deepEqual(
    [d.enableIPv4, d.enableIPv6, formatCidr(d.network), formatCidr6(d.ipv6!.network)],
    [true, true, '10.244.0.0/16', 'fd00:10:244::/56'],
  );
  const only6 = netConf('--enable-ipv4=false', '--ipv6-network', 'fd00:10:244::/56', '--backend', 'host-gw');
  assert.deepEqual(JSON.parse(only6), {
    EnableIPv4: false,
    EnableIPv6: true,
    IPv6Network: 'fd00:10:244::/56',
    EnableNFTables: false,
    Backend: { Type: 'host-gw' },
  });
  const o = parseNetworkConfig(only6);
  assert.deepEqual([o.enableIPv4, o.enableIPv6, o.backend.type], [false, true, 'host-gw']);
  assert.equal(JSON.parse(netConf()).EnableIPv6, undefined, 'IPv4 only unless asked');
});

test('bad flags: no --image (exit 2, named), an unknown backend, a bad network, a selector that is not KEY=VALUE, bad IPv6 choices (field and flag named)', () => {
  for (const [args, re] of [
    [[], /--image is required/],
    [['--image', 'w', '--backend', 'wireguard'], /--backend must be vxlan, udp or host-gw, not "wireguard"/],
    [['--image', 'w', '--network', '10.0.0.0/33'], /Network/],
    [['--image', 'w', '--node-selector', 'nolabel'], /--node-selector must be KEY=VALUE/],
    [['--image', 'w', '--ipv6-network', 'fd00::/129'], /net-conf\.json IPv6Network \(--ipv6-network\): invalid CIDR address: fd00::\/129/],
    [['--image', 'w', '--backend', 'udp', '--ipv6-network', 'fd00::/56'], /\(--backend\): the udp backend carries IPv4 only/],
    [['--image', 'w', '--enable-ipv4=false'], /net-conf\.json EnableIPv4 \(--enable-ipv4\): .*both false/],
  ] as const) {
    const r = weft('manifest', ...args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '', 'nothing printed to apply');
  }
});
