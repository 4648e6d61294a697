// `weft manifest`: a ready-to-apply Kubernetes manifest in the shape of
// flannel's kube-flannel.yml (Namespace, ServiceAccount, ClusterRole with
// exactly the verbs weft uses, its binding, the ConfigMap with net-conf.json
// and the flannel CNI plugin's conflist, and the DaemonSet), for the mixed
// cluster: weft runs on the nodes labelled for it, flanneld on the others.

import { stringify } from 'yaml';
import { parseNetworkConfig } from '../config/network-config';
import { WeftError } from '../errors';
import { formatFlags, parseFlags, str, bool, usageError, type FlagSpec } from './flags';

const kFlags: readonly FlagSpec[] = [
  { name: 'image', kind: 'string', arg: 'IMAGE', help: 'the weft container image (required; weft does not build one)' },
  { name: 'network', kind: 'string', def: '10.244.0.0/16', arg: 'CIDR', help: 'the pod network (net-conf.json Network)' },
  {
    name: 'ipv6-network',
    kind: 'string',
    arg: 'CIDR',
    help: 'dual stack: the IPv6 pod network (net-conf.json EnableIPv6 and IPv6Network; vxlan or host-gw)',
  },
  {
    name: 'enable-ipv4',
    kind: 'bool',
    def: true,
    help: 'net-conf.json EnableIPv4; =false with --ipv6-network makes an IPv6-only cluster (no Network)',
  },
  { name: 'backend', kind: 'string', def: 'vxlan', arg: 'TYPE', help: 'vxlan, udp or host-gw' },
  { name: 'namespace', kind: 'string', def: 'kube-flannel', arg: 'NS', help: 'namespace of the DaemonSet and its ServiceAccount' },
  {
    name: 'node-selector',
    kind: 'string',
    def: 'weft.dev/enabled=true',
    arg: 'KEY=VALUE',
    help: 'the node label weft runs on (flanneld keeps the others)',
  },
  { name: 'ip-masq', kind: 'bool', def: true, help: 'pass --ip-masq to weft run (kube-flannel.yml does)' },
];
const kUsage = `usage: weft manifest --image IMAGE [flags] | kubectl apply -f -\n${formatFlags(kFlags)}`;

/** The flannel CNI plugin image kube-flannel.yml v0.28 installs from (the plugin reads subnet.env, which weft writes). */
export const kCniPluginImage = 'docker.io/flannel/flannel-cni-plugin:v1.7.1-flannel1';
/** The port of weft's /healthz and /readyz in the DaemonSet. */
export const kHealthPort = 10256;

export interface ManifestOptions {
  image: string;
  network: string;
  /** Dual stack / IPv6-only: net-conf.json's IPv6Network (EnableIPv6 true). */
  ipv6Network?: string;
  /** net-conf.json's EnableIPv4 (false: IPv6-only, no Network). */
  enableIPv4: boolean;
  backend: 'vxlan' | 'udp' | 'host-gw';
  namespace: string;
  nodeSelector: { key: string; value: string };
  ipMasq: boolean;
}

/** weft run's command line in the DaemonSet (checked against run's own flag parser in the tests). */
export function daemonSetArgs(o: ManifestOptions): string[] {
  return [
    'run',
    ...(o.ipMasq ? ['--ip-masq'] : []),
    '--kube-subnet-mgr',
    '--net-config-path=/etc/kube-flannel/net-conf.json',
    `--healthz-port=${kHealthPort}`,
    '--healthz-ip=0.0.0.0',
  ];
}

/** net-conf.json as kube-flannel.yml writes it, with flannel's dual-stack / IPv6-only keys when asked for. */
export function netConfOf(o: Pick<ManifestOptions, 'network' | 'ipv6Network' | 'enableIPv4' | 'backend'>): string {
  const conf = {
    ...(o.enableIPv4 ? { Network: o.network } : { EnableIPv4: false }),
    ...(o.ipv6Network !== undefined ? { EnableIPv6: true, IPv6Network: o.ipv6Network } : {}),
    EnableNFTables: false,
    Backend: { Type: o.backend },
  };
  return JSON.stringify(conf, null, 2);
}

export function manifestObjects(o: ManifestOptions): Record<string, unknown>[] {
  const ns = o.namespace;
  const labels = { app: 'weft', tier: 'node', 'k8s-app': 'weft' };
  const netConf = netConfOf(o);
  const cniConf = JSON.stringify(
    {
      name: 'cbr0',
      cniVersion: '0.3.1',
      plugins: [
        { type: 'flannel', delegate: { hairpinMode: true, isDefaultGateway: true } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
  const hostPath = (name: string, path: string, type?: string) => ({ name, hostPath: { path, ...(type ? { type } : {}) } });
  return [
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { 'k8s-app': 'weft', 'pod-security.kubernetes.io/enforce': 'privileged' } },
    },
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'weft', namespace: ns, labels: { 'k8s-app': 'weft' } } },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'weft', labels: { 'k8s-app': 'weft' } },
      // Exactly what weft's kube subnet manager requests (flannel's own set).
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes/status'], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'weft', labels: { 'k8s-app': 'weft' } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'weft' },
      subjects: [{ kind: 'ServiceAccount', name: 'weft', namespace: ns }],
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'weft-cfg', namespace: ns, labels },
      data: { 'cni-conf.json': cniConf + '\n', 'net-conf.json': netConf + '\n' },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'weft-ds', namespace: ns, labels },
      spec: {
        selector: { matchLabels: { app: 'weft' } },
        // A new pod starts beside the old one (the hand-off socket lives in
        // /run/flannel on the host), so a rolling upgrade never leaves a node without one.
        updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
        template: {
          metadata: { labels },
          spec: {
            affinity: {
              nodeAffinity: {
                requiredDuringSchedulingIgnoredDuringExecution: {
                  nodeSelectorTerms: [
                    {
                      matchExpressions: [
                        { key: 'kubernetes.io/os', operator: 'In', values: ['linux'] },
                        { key: o.nodeSelector.key, operator: 'In', values: [o.nodeSelector.value] },
                      ],
                    },
                  ],
                },
              },
            },
            hostNetwork: true,
            priorityClassName: 'system-node-critical',
            tolerations: [{ operator: 'Exists', effect: 'NoSchedule' }],
            serviceAccountName: 'weft',
            initContainers: [
              {
                name: 'install-cni-plugin',
                image: kCniPluginImage,
                command: ['cp'],
                args: ['-f', '/flannel', '/opt/cni/bin/flannel'],
                volumeMounts: [{ name: 'cni-plugin', mountPath: '/opt/cni/bin' }],
              },
              {
                name: 'install-cni',
                image: o.image,
                command: ['cp'],
                args: ['-f', '/etc/kube-flannel/cni-conf.json', '/etc/cni/net.d/10-flannel.conflist'],
                volumeMounts: [
                  { name: 'cni', mountPath: '/etc/cni/net.d' },
                  { name: 'weft-cfg', mountPath: '/etc/kube-flannel/' },
                ],
              },
            ],
            containers: [
              {
                name: 'weft',
                image: o.image,
                command: ['weft'],
                args: daemonSetArgs(o),
                resources: { requests: { cpu: '100m', memory: '50Mi' } },
                securityContext: { privileged: false, capabilities: { add: ['NET_ADMIN', 'NET_RAW'] } },
                env: [
                  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                  { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                ],
                readinessProbe: { httpGet: { path: '/readyz', port: kHealthPort, host: '127.0.0.1' }, periodSeconds: 5 },
                livenessProbe: {
                  httpGet: { path: '/healthz', port: kHealthPort, host: '127.0.0.1' },
                  periodSeconds: 10,
                  failureThreshold: 6,
                },
                volumeMounts: [
                  { name: 'run', mountPath: '/run/flannel' },
                  { name: 'weft-cfg', mountPath: '/etc/kube-flannel/' },
                  { name: 'tun', mountPath: '/dev/net/tun' },
                  { name: 'shm', mountPath: '/dev/shm' },
                  { name: 'xtables-lock', mountPath: '/run/xtables.lock' },
                ],
              },
            ],
            volumes: [
              hostPath('run', '/run/flannel'),
              hostPath('cni-plugin', '/opt/cni/bin'),
              hostPath('cni', '/etc/cni/net.d'),
              { name: 'weft-cfg', configMap: { name: 'weft-cfg' } },
              hostPath('tun', '/dev/net/tun', 'CharDevice'),
              hostPath('shm', '/dev/shm', 'Directory'),
              hostPath('xtables-lock', '/run/xtables.lock', 'FileOrCreate'),
            ],
          },
        },
      },
    },
  ];
}

/** The flag that sets each net-conf.json field the manifest writes. */
const kFlagOfField: Record<string, string> = {
  Network: 'network',
  EnableIPv4: 'enable-ipv4',
  EnableIPv6: 'ipv6-network',
  IPv6Network: 'ipv6-network',
  Backend: 'backend',
  'Backend.Type': 'backend',
};

export function parseManifestFlags(argv: string[]): ManifestOptions | 'help' {
  const { values, rest, help } = parseFlags(kFlags, argv, {});
  if (help) return 'help';
  if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const image = str(values, 'image');
  if (!image) throw usageError('--image is required: the weft container image the DaemonSet runs', 'image');
  const backend = str(values, 'backend')!;
  if (backend !== 'vxlan' && backend !== 'udp' && backend !== 'host-gw')
    throw usageError(`--backend must be vxlan, udp or host-gw, not ${JSON.stringify(backend)}`, 'backend');
  const network = str(values, 'network')!;
  const ipv6Network = str(values, 'ipv6-network');
  const enableIPv4 = bool(values, 'enable-ipv4');
  // The ConfigMap's own net-conf.json, checked as weft run will read it: a bad one names its field and flag.
  try {
    parseNetworkConfig(netConfOf({ network, ...(ipv6Network !== undefined ? { ipv6Network } : {}), enableIPv4, backend }));
  } catch (e) {
    const field = e instanceof WeftError ? e.option : undefined;
    if (field === undefined) throw e;
    const flag = kFlagOfField[field] ?? 'network';
    throw usageError(`net-conf.json ${field} (--${flag}): ${(e as Error).message}`, flag);
  }
  const sel = str(values, 'node-selector')!;
  const m = /^([A-Za-z0-9./_-]+)=([A-Za-z0-9._-]*)$/.exec(sel);
  if (!m) throw usageError(`--node-selector must be KEY=VALUE (a node label), not ${JSON.stringify(sel)}`, 'node-selector');
  return {
    image,
    network,
    ...(ipv6Network !== undefined ? { ipv6Network } : {}),
    enableIPv4,
    backend,
    namespace: str(values, 'namespace')!,
    nodeSelector: { key: m[1]!, value: m[2]! },
    ipMasq: bool(values, 'ip-masq'),
  };
}

export function renderManifest(o: ManifestOptions): string {
  return manifestObjects(o)
    .map((doc) => `---\n${stringify(doc, { lineWidth: 0 })}`)
    .join('');
}

export async function manifestMain(argv: string[]): Promise<number> {
  let o: ManifestOptions | 'help';
  try {
    o = parseManifestFlags(argv);
  } catch (e) {
    process.stderr.write(`weft manifest: ${(e as Error).message}\n${kUsage}\n`);
    return 2;
  }
  if (o === 'help') {
    process.stdout.write(kUsage + '\n');
    return 0;
  }
  process.stdout.write(renderManifest(o));
  return 0;
}
