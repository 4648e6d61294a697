// Kubernetes mode beside a flanneld node with kernel VXLAN: an API server
// (kube-api-server.ts), weft `run --kube-subnet-mgr` nodes and, last, one
// kernel node. The kernel node is set up as flanneld sets one up from its
// Node object: its annotations (written here, in flanneld's form), a
// flannel.1 for an IPv4 podCIDR and a flannel-v6.1 for an IPv6 one, and —
// once the weft nodes have annotated theirs — a neighbour, FDB entry and
// route per weft lease. `start()` returns when every weft node's table holds
// every other node's podCIDRs.

import { parseCidr } from '../../src/net/cidr';
import { parseCidr6 } from '../../src/net/cidr6';
import { formatIPv4 } from '../../src/net/ip';
import { formatIPv6 } from '../../src/net/ip6';
import { addV6Underlay, learn6, untilTablesHold } from './dual-stack';
import { KubeApiServer } from './kube-api-server';
import { kernelVxlanNode, kernelVxlanPeer } from './overlay';
import { Cluster, type Node } from './weft-cluster';

export const kP = 'flannel.alpha.coreos.com/';

export interface KubeWeftNode {
  name: string;
  podCIDRs: readonly string[];
  /** Annotations the Node carries before weft starts (a node that ran before), from its underlay addresses. */
  annotations?: (underlay: { ip: string; ip6: string }) => Record<string, string>;
}

export interface KubeOverlayOptions {
  /** Namespace name prefix. */
  prefix: string;
  /** net-conf.json. */
  config: string;
  weft: readonly KubeWeftNode[];
  /** The kernel node: its name, podCIDRs and VtepMACs (`mac` for flannel.1, `mac6` for flannel-v6.1). */
  kernel: { name: string; podCIDRs: readonly string[]; mac?: string; mac6?: string };
  /** false: no IPv4 on any underlay (IPv6-only). Default true. */
  ipv4Underlay?: boolean;
}

const isV6 = (cidr: string) => cidr.includes(':');
const macOf = (backendData: string | undefined) => (JSON.parse(backendData!) as { VtepMAC: string }).VtepMAC;

export class KubeOverlay {
  readonly api = new KubeApiServer();
  readonly c: Cluster;
  readonly weft: Node[];
  readonly kernel: Node;
  /** Each node's IPv6 underlay address, by cluster index (set by start). */
  v6: string[] = [];
  /** Each node's IPv6 pod address (`<v6 subnet>::5` on lo); the IPv4 ones are `node.pod`. */
  readonly pods6 = new Map<Node, string>();

  constructor(readonly o: KubeOverlayOptions) {
    this.c = new Cluster(o.prefix, o.weft.length + 1, o.config);
    this.weft = this.c.nodes.slice(0, o.weft.length);
    this.kernel = this.c.nodes[o.weft.length]!;
  }

  /** The Node object's annotations. */
  annotations(name: string): Record<string, string> {
    return this.api.nodes.get(name)!.metadata.annotations;
  }

  async start(): Promise<void> {
    const { o, api, c, kernel } = this;
    const v6 = (this.v6 = addV6Underlay(c));
    if (o.ipv4Underlay === false) for (const n of c.nodes) n.ns.ip('-4', 'addr', 'flush', 'dev', 'ul');
    await api.start();
    o.weft.forEach((w, i) => {
      const annotations = w.annotations?.({ ip: this.weft[i]!.ip, ip6: v6[i]! });
      api.addNode(w.name, { podCIDRs: [...w.podCIDRs], ...(annotations ? { annotations } : {}) });
    });
    this.#startKernelNode();
    const kubeconfig = api.kubeconfig();
    for (const n of this.weft) api.proxyIn(n.ns);
    for (const n of this.weft) await api.proxyReady(n.ns);
    this.weft.forEach((n, i) =>
      c.start(n, ['--kube-subnet-mgr', '--kubeconfig-file', kubeconfig, '--net-config-path', c.configFile], { NODE_NAME: o.weft[i]!.name }),
    );
    for (const [i, n] of this.weft.entries()) {
      await n.agent!.waitReady();
      if (o.weft[i]!.podCIDRs.some((s) => !isV6(s))) c.learn(n);
      if (o.weft[i]!.podCIDRs.some(isV6)) this.pods6.set(n, learn6(n));
    }
    // flanneld on the kernel node programs each weft lease from that node's annotations.
    for (const w of o.weft) {
      const a = this.annotations(w.name);
      for (const subnet of w.podCIDRs) {
        if (isV6(subnet))
          kernelVxlanPeer(kernel.ns, { subnet, publicIp: a[`${kP}public-ipv6`]!, mac: macOf(a[`${kP}backend-v6-data`]) }, 'flannel-v6.1');
        else kernelVxlanPeer(kernel.ns, { subnet, publicIp: a[`${kP}public-ip`]!, mac: macOf(a[`${kP}backend-data`]) });
      }
    }
    await untilTablesHold(this.weft, [...o.weft.map((w) => w.podCIDRs), o.kernel.podCIDRs]);
  }

  /** The kernel node's Node object (annotations as flanneld writes them), devices and pod addresses. */
  #startKernelNode(): void {
    const { o, kernel } = this;
    const ip6 = this.v6[o.weft.length]!;
    const v4 = o.kernel.podCIDRs.find((s) => !isV6(s));
    const v6 = o.kernel.podCIDRs.find(isV6);
    const vxlan = (mac: string | undefined) => `{"VNI":1,"VtepMAC":"${mac!}"}`;
    this.api.addNode(o.kernel.name, {
      podCIDRs: [...o.kernel.podCIDRs],
      annotations: {
        ...(v4 ? { [`${kP}backend-data`]: vxlan(o.kernel.mac) } : {}),
        [`${kP}backend-type`]: 'vxlan',
        ...(v6 ? { [`${kP}backend-v6-data`]: vxlan(o.kernel.mac6) } : {}),
        [`${kP}kube-subnet-manager`]: 'true',
        ...(v4 ? { [`${kP}public-ip`]: kernel.ip } : {}),
        ...(v6 ? { [`${kP}public-ipv6`]: ip6 } : {}),
      },
    });
    if (v4) {
      kernelVxlanNode(kernel.ns, { publicIp: kernel.ip, subnet: v4, mac: o.kernel.mac! });
      kernel.subnet = v4;
      kernel.pod = formatIPv4(parseCidr(v4)!.ip + 5);
      kernel.ns.ip('addr', 'add', `${kernel.pod}/32`, 'dev', 'lo');
    }
    if (v6) {
      // With flannel.1 beside it the underlay's offloads are already off (wireFrames).
      kernelVxlanNode(kernel.ns, { publicIp: ip6, subnet: v6, mac: o.kernel.mac6!, ...(v4 ? { wireFrames: false } : {}) });
      const pod = formatIPv6(parseCidr6(v6)!.ip + 5n);
      kernel.ns.ip('-6', 'addr', 'add', `${pod}/128`, 'dev', 'lo');
      this.pods6.set(kernel, pod);
    }
  }

  async destroy(): Promise<void> {
    await this.c.destroy();
    await this.api.destroy();
  }
}
