// flannel's Kubernetes subnet manager (`--kube-subnet-mgr`, flannel-facts §3)
// behind the LeaseStore seam: the Node objects are the leases.
//
//   this node's lease   = its spec.podCIDR(s) (assignedSubnet), published by a
//                         strategic-merge PATCH of nodes/<name>/status with
//                         the backend-type / backend-data / public-ip /
//                         kube-subnet-manager annotations (only keys that
//                         differ; nothing sent when none does);
//   the peers           = every node whose kube-subnet-manager annotation is
//                         "true": LIST, then WATCH from the list's
//                         resourceVersion; a node update is re-announced only
//                         when backend-data, backend-type or public-ip change
//                         (a podCIDR change alone is not noticed, as flannel);
//                         DELETED removes the peer; 410 Gone re-lists (one
//                         'resync' event); a broken watch resumes from the
//                         last version seen, with backoff; a re-list every
//                         resync period (flannel's informer: 5 min);
//   the network config  = the net-conf.json file (--net-config-path), read,
//                         never written;
//   no TTL, no renewal, nothing deleted on shutdown (flannel's RenewLease is
//   unimplemented and it leaves its annotations).
//
// Revisions: Kubernetes resourceVersions are opaque strings, so this store
// numbers its own snapshots and events and keeps the resourceVersion of the
// last list to start the watch from.

import { readFileSync } from 'node:fs';
import { ErrorCode, WeftError } from '../errors';
import { type Cidr, cidrContains, formatCidr, parseCidr } from '../net/cidr';
import { type Cidr6, cidr6Contains, formatCidr6, parseCidr6 } from '../net/cidr6';
import { isIPv4 } from '../net/ip';
import { formatIPv6, parseIPv6 } from '../net/ip6';
import { type NetworkConfig, parseNetworkConfig } from '../config/network-config';
import { NO_IPV4_SUBNET } from './keys';
import type { JsonValue } from '../config/go-json';
import { KubeClient, type KubeClientOptions, KubeApiError, type Permission } from './kube-client';
import type { LeaseAttrs } from './lease-json';
import type { LeaseRef, LeaseSnapshot, LeaseStore, LeaseSubnets, StoreEvent, StoreWatch, StoredLease, WatchOptions } from './lease-store';
import { leaseId, leaseSubnets } from './lease-store';

import { DEFAULT_ANNOTATION_PREFIX, DEFAULT_NET_CONF_PATH } from './kube-defaults';

export interface KubeStoreOptions extends KubeClientOptions {
  /** This node's name; default NODE_NAME, else the pod POD_NAMESPACE/POD_NAME's spec.nodeName. */
  nodeName?: string;
  /** --kube-annotation-prefix (default flannel.alpha.coreos.com). */
  annotationPrefix?: string;
  /** --net-config-path (default /etc/kube-flannel/net-conf.json). */
  netConfPath?: string;
  /** Re-list period, ms (flannel's informer: 5 min). */
  resyncMs?: number;
  /** Cap of the watch reconnect backoff, ms (default 30 000). */
  maxBackoffMs?: number;
  /** A node with malformed annotations was skipped (once per node and value). */
  onSkip?: (node: string, why: string) => void;
}

/** Annotation keys under a prefix, normalised and validated as flannel does (annotations.go). */
export interface Annotations {
  subnetKubeManaged: string;
  backendType: string;
  backendData: string;
  backendPublicIp: string;
  backendPublicIpOverwrite: string;
  nodePublicIp: string;
  backendV6Data: string;
  backendPublicIpv6: string;
  backendPublicIpv6Overwrite: string;
  nodePublicIpv6: string;
}

const kPrefixRe = /^(?:[a-z0-9_-]+\.)+[a-z0-9_-]+\/(?:[a-z0-9_-]+-)?$/;

export function annotationKeys(prefix: string = DEFAULT_ANNOTATION_PREFIX): Annotations {
  let p = prefix;
  const slashes = p.split('/').length - 1;
  if (slashes > 1) {
    throw new WeftError(
      ErrorCode.INVALID_OPTION,
      `--kube-annotation-prefix ${JSON.stringify(prefix)}: subnet/kube: prefix can contain at most single slash`,
      {
        option: 'kube-annotation-prefix',
      },
    );
  }
  if (slashes === 0) p += '/';
  else if (!p.endsWith('/') && !p.endsWith('-')) p += '-';
  if (!kPrefixRe.test(p)) {
    throw new WeftError(
      ErrorCode.INVALID_OPTION,
      `--kube-annotation-prefix ${JSON.stringify(prefix)}: subnet/kube: prefix must match ${kPrefixRe.source}`,
      {
        option: 'kube-annotation-prefix',
      },
    );
  }
  return {
    subnetKubeManaged: `${p}kube-subnet-manager`,
    backendType: `${p}backend-type`,
    backendData: `${p}backend-data`,
    backendPublicIp: `${p}public-ip`,
    backendPublicIpOverwrite: `${p}public-ip-overwrite`,
    nodePublicIp: `${p}node-public-ip`,
    backendV6Data: `${p}backend-v6-data`,
    backendPublicIpv6: `${p}public-ipv6`,
    backendPublicIpv6Overwrite: `${p}public-ipv6-overwrite`,
    nodePublicIpv6: `${p}node-public-ipv6`,
  };
}

interface KubeNode {
  metadata?: { name?: string; resourceVersion?: string; annotations?: Record<string, string> };
  spec?: { podCIDR?: string; podCIDRs?: string[] };
}

interface Known {
  subnet: Cidr;
  ipv6Subnet?: Cidr6;
  lease: StoredLease;
  /** backend-data, backend-type and public-ip as published: what a change is measured by. */
  key: string;
}

const kNodes: Permission = { resource: 'nodes', verb: 'list' };
const kWatch: Permission = { resource: 'nodes', verb: 'watch' };
const kGet: Permission = { resource: 'nodes', verb: 'get' };
const kPatch: Permission = { resource: 'nodes/status', verb: 'patch' };
const kPods: Permission = { resource: 'pods', verb: 'get' };

const kStrategic = 'application/strategic-merge-patch+json';

/** The podCIDRs of a node by family, flannel's rules: podCIDRs (1–2 entries) first, else podCIDR. */
function podCidrOf(node: KubeNode, name: string): { cidr: string | undefined; cidr6: string | undefined; error?: string } {
  const list = node.spec?.podCIDRs ?? [];
  if (list.length > 2)
    return { cidr: undefined, cidr6: undefined, error: `node "${name}" pod cidrs should be IPv4/IPv6 only or dualstack` };
  const all = list.length > 0 ? list : node.spec?.podCIDR ? [node.spec.podCIDR] : [];
  return { cidr: all.find((c) => !c.includes(':')), cidr6: all.find((c) => c.includes(':')) };
}

/** EnableIPv4 / EnableIPv6 of a net-conf.json (an invalid one is reported by the agent, which parses it too). */
function familiesOf(text: string): { v4: boolean; v6: boolean } {
  try {
    const c = parseNetworkConfig(text);
    return { v4: c.enableIPv4, v6: c.enableIPv6 };
  } catch {
    return { v4: true, v6: false };
  }
}

export class KubeStore implements LeaseStore {
  readonly keys: Annotations;
  readonly client: KubeClient;
  readonly #o: KubeStoreOptions;
  #nodeName: string | undefined;
  #published: LeaseAttrs | undefined;
  #seq = 0;
  #listed: { revision: number; rv: string; known: Map<string, Known> } | undefined;
  readonly #skipped = new Map<string, string>();
  #closed = false;
  readonly #watches = new Set<{ close(): Promise<void> }>();
  /** Watches sleeping in their reconnect backoff: called to retry now. */
  readonly #wakers = new Set<() => void>();
  /** Nodes skipped because of malformed annotations (for /metrics). */
  skippedNodes = 0;
  /** Which families a node's lease carries (the net-conf's EnableIPv4/EnableIPv6, known once it was read). */
  #families = { v4: true, v6: false };

  constructor(o: KubeStoreOptions) {
    this.#o = o;
    this.keys = annotationKeys(o.annotationPrefix);
    this.client = new KubeClient(o);
    const env = o.env ?? process.env;
    if (o.nodeName) this.#nodeName = o.nodeName;
    else if (env.NODE_NAME) this.#nodeName = env.NODE_NAME;
    else if (!env.POD_NAME || !env.POD_NAMESPACE) {
      throw new WeftError(ErrorCode.USAGE, 'env variables POD_NAME and POD_NAMESPACE must be set (or NODE_NAME)', {
        option: 'kube-subnet-mgr',
      });
    }
  }

  /** For logs and readiness. */
  describe(): string {
    return `kube ${this.client.server}`;
  }

  /** This node's name (NODE_NAME, or looked up from our pod). */
  async nodeName(): Promise<string> {
    if (this.#nodeName) return this.#nodeName;
    const env = this.#o.env ?? process.env;
    const pod = (await this.client.call(
      'GET',
      `/api/v1/namespaces/${encodeURIComponent(env.POD_NAMESPACE!)}/pods/${encodeURIComponent(env.POD_NAME!)}`,
      kPods,
    )) as {
      spec?: { nodeName?: string };
    };
    const name = pod.spec?.nodeName;
    if (!name)
      throw new WeftError(ErrorCode.STORE, `pod ${env.POD_NAMESPACE}/${env.POD_NAME} has no spec.nodeName yet`, { recoverable: true });
    this.#nodeName = name;
    return name;
  }

  async #ownNode(): Promise<KubeNode> {
    return (await this.client.call('GET', `/api/v1/nodes/${encodeURIComponent(await this.nodeName())}`, kGet)) as KubeNode;
  }

  /**
   * Proves the API answers (and our credentials still work): GET of our own
   * node. When it does, a watch waiting out its reconnect backoff retries at
   * once: after an API outage the watch resumes as soon as the agent's probe
   * sees the API back, not up to a full backoff later.
   */
  async ping(): Promise<void> {
    await this.#ownNode();
    for (const wake of this.#wakers) wake();
  }

  async assignedSubnet(config: NetworkConfig): Promise<LeaseSubnets> {
    const name = await this.nodeName();
    const node = await this.#ownNode();
    const { cidr, cidr6, error } = podCidrOf(node, name);
    if (error) throw new WeftError(ErrorCode.STORE, error);
    // flannel retries this (the controller manager may not have assigned it yet).
    if (!node.spec?.podCIDR && !cidr && !cidr6)
      throw new WeftError(ErrorCode.STORE, `node "${name}" pod cidr not assigned`, { recoverable: true });
    let subnet: Cidr = NO_IPV4_SUBNET;
    if (config.enableIPv4) {
      if (!cidr) throw new WeftError(ErrorCode.STORE, `node "${name}" pod cidr not assigned`, { recoverable: true });
      const parsed = parseCidr(cidr);
      if (!parsed) throw new WeftError(ErrorCode.STORE, `node "${name}" has a podCIDR that is not a CIDR: ${JSON.stringify(cidr)}`);
      if (!cidrContains(config.network, parsed)) {
        throw new WeftError(
          ErrorCode.STORE,
          `subnet "${formatCidr(config.network)}" specified in the flannel net config doesn't contain "${cidr}" PodCIDR of the "${name}" node`,
        );
      }
      subnet = parsed;
    }
    if (!config.ipv6) return { subnet };
    if (!cidr6)
      throw new WeftError(ErrorCode.STORE, `node "${name}" has no IPv6 podCIDR (missing IPv6 address on n.Spec.PodCIDRs)`, {
        recoverable: true,
      });
    const ipv6Subnet = parseCidr6(cidr6);
    if (!ipv6Subnet) throw new WeftError(ErrorCode.STORE, `node "${name}" has a podCIDR that is not a CIDR: ${JSON.stringify(cidr6)}`);
    if (!cidr6Contains(config.ipv6.network, ipv6Subnet)) {
      throw new WeftError(
        ErrorCode.STORE,
        `subnet "${formatCidr6(config.ipv6.network)}" specified in the flannel net config doesn't contain "${cidr6}" IPv6 PodCIDR of the "${name}" node`,
      );
    }
    return { subnet, ipv6Subnet };
  }

  /** The VtepMAC in this node's own backend-data (flannel reuses it for flannel.<VNI>), if any. */
  async ownVtepMac(): Promise<string | undefined> {
    // flanneld reads both: an IPv6-only node has only backend-v6-data.
    const a = (await this.#ownNode()).metadata?.annotations;
    for (const data of [a?.[this.keys.backendData], a?.[this.keys.backendV6Data]]) {
      const m = data ? /"VtepMAC"\s*:\s*"([0-9a-fA-F:]{17})"/.exec(data) : null;
      if (m) return m[1]!.toLowerCase();
    }
    return undefined;
  }

  /** node-public-ip, set by an administrator: used as --public-ip when given. */
  async nodePublicIp(): Promise<string | undefined> {
    const v = (await this.#ownNode()).metadata?.annotations?.[this.keys.nodePublicIp];
    return v && isIPv4(v) ? v : undefined;
  }

  /** node-public-ipv6, set by an administrator: used as --public-ipv6 when given. */
  async nodePublicIpv6(): Promise<string | undefined> {
    const v = (await this.#ownNode()).metadata?.annotations?.[this.keys.nodePublicIpv6];
    const ip = v === undefined ? undefined : parseIPv6(v);
    return ip === undefined ? undefined : formatIPv6(ip);
  }

  /**
   * The annotation values flannel writes for `attrs` (the overwrite
   * annotations honoured). As flannel's vxlan: backend-data / public-ip only
   * with IPv4 data (not on an IPv6-only node), backend-v6-data / public-ipv6
   * only with IPv6 data (host-gw: with a PublicIPv6).
   */
  #annotationsFor(attrs: LeaseAttrs, current: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = { [this.keys.backendType]: attrs.backendType ?? '' };
    const vxlan = attrs.backendType === 'vxlan';
    if (!vxlan || attrs.backendData !== undefined) {
      const overwrite = current[this.keys.backendPublicIpOverwrite];
      out[this.keys.backendData] = attrs.backendData === undefined ? 'null' : JSON.stringify(attrs.backendData);
      out[this.keys.backendPublicIp] = overwrite && isIPv4(overwrite) ? overwrite : attrs.publicIp;
    }
    if ((vxlan && attrs.backendV6Data !== undefined) || (attrs.backendType === 'host-gw' && attrs.publicIpv6 !== null)) {
      const overwrite = current[this.keys.backendPublicIpv6Overwrite];
      out[this.keys.backendV6Data] = attrs.backendV6Data === undefined ? 'null' : JSON.stringify(attrs.backendV6Data);
      out[this.keys.backendPublicIpv6] = overwrite && parseIPv6(overwrite) !== undefined ? overwrite : attrs.publicIpv6!;
    }
    out[this.keys.subnetKubeManaged] = 'true';
    return out;
  }

  async acquireIfAbsent(subnet: LeaseRef, attrs: LeaseAttrs): Promise<boolean> {
    const { cidr, cidr6 } = podCidrOf(await this.#ownNode(), await this.nodeName());
    const want = leaseSubnets(subnet);
    const own = {
      subnet: (cidr && parseCidr(cidr)) || NO_IPV4_SUBNET,
      ...(want.ipv6Subnet && cidr6 ? { ipv6Subnet: parseCidr6(cidr6) } : {}),
    };
    if (leaseId(own) !== leaseId(want)) return false;
    await this.put(subnet, attrs);
    return true;
  }

  /** Publishes our annotations: one strategic-merge patch of nodes/<n>/status with the keys that differ. */
  async put(_subnet: LeaseRef, attrs: LeaseAttrs): Promise<void> {
    const name = await this.nodeName();
    const current = (await this.#ownNode()).metadata?.annotations ?? {};
    const want = this.#annotationsFor(attrs, current);
    const changed = Object.keys(want)
      .filter((k) => current[k] !== want[k])
      .sort(); // Go marshals a map with its keys sorted
    this.#published = attrs;
    if (changed.length === 0) return;
    const body = JSON.stringify({ metadata: { annotations: Object.fromEntries(changed.map((k) => [k, want[k]!])) } });
    await this.client.call('PATCH', `/api/v1/nodes/${encodeURIComponent(name)}/status`, kPatch, { contentType: kStrategic, data: body });
  }

  /** NetworkUnavailable=False, reason FlannelIsUp, as flannel sets it once its backend runs. */
  async setNetworkAvailable(now: Date = new Date()): Promise<void> {
    const t = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const cond = [
      {
        type: 'NetworkUnavailable',
        status: 'False',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
        reason: 'FlannelIsUp',
        message: 'Flannel is running on this node',
      },
    ];
    const body = `{"status":{"conditions":${JSON.stringify(cond)}}}`;
    await this.client.call('PATCH', `/api/v1/nodes/${encodeURIComponent(await this.nodeName())}/status`, kPatch, {
      contentType: kStrategic,
      data: body,
    });
  }

  /** flannel removes nothing: a node's lease goes with the node. */
  async delete(): Promise<void> {}

  async getConfig(): Promise<string | undefined> {
    const path = this.#o.netConfPath ?? DEFAULT_NET_CONF_PATH;
    try {
      const text = readFileSync(path, 'utf8');
      this.#families = familiesOf(text);
      return text;
    } catch (err) {
      throw new WeftError(ErrorCode.USAGE, `failed to read net conf ${path}: ${(err as Error).message}`, { option: 'net-config-path' });
    }
  }

  async putConfig(): Promise<void> {
    throw new WeftError(
      ErrorCode.USAGE,
      'in Kubernetes mode the network config is the net-conf.json file (--net-config-path); it is not written',
      { option: 'net-config-path' },
    );
  }

  /** A node as a lease, or undefined when it does not count (not managed) or is malformed (skipped, reported once). */
  #leaseOf(node: KubeNode): Known | undefined {
    const name = node.metadata?.name ?? '';
    const a = node.metadata?.annotations ?? {};
    if (a[this.keys.subnetKubeManaged] !== 'true') return undefined;
    const skip = (why: string): undefined => {
      if (this.#skipped.get(name) !== why) {
        this.#skipped.set(name, why);
        this.skippedNodes++;
        this.#o.onSkip?.(name, why);
      }
      return undefined;
    };
    const { cidr, cidr6, error } = podCidrOf(node, name);
    if (error) return skip(error);
    const v4 = this.#families.v4;
    const v6 = this.#families.v6;
    let subnet: Cidr = NO_IPV4_SUBNET;
    let ip = '0.0.0.0';
    let rawData = 'null';
    if (v4) {
      if (!cidr) return skip(`node "${name}" pod cidr not assigned`);
      const parsed = parseCidr(cidr);
      if (!parsed) return skip(`podCIDR ${JSON.stringify(cidr)} is not a CIDR`);
      subnet = parsed;
      ip = a[this.keys.backendPublicIp] ?? '';
      if (!isIPv4(ip)) return skip(`${this.keys.backendPublicIp} ${JSON.stringify(ip)} is not an IPv4 address`);
      rawData = a[this.keys.backendData] ?? 'null';
    }
    let ipv6Subnet: Cidr6 | undefined;
    let ip6: string | null = null;
    let rawData6 = 'null';
    if (v6) {
      if (!cidr6) return skip(`missing IPv6 address on n.Spec.PodCIDRs of node "${name}"`);
      ipv6Subnet = parseCidr6(cidr6);
      if (!ipv6Subnet) return skip(`podCIDR ${JSON.stringify(cidr6)} is not a CIDR`);
      const text = a[this.keys.backendPublicIpv6] ?? '';
      const parsed = parseIPv6(text);
      if (parsed === undefined) return skip(`${this.keys.backendPublicIpv6} ${JSON.stringify(text)} is not an IPv6 address`);
      ip6 = formatIPv6(parsed);
      rawData6 = a[this.keys.backendV6Data] ?? 'null';
    }
    const type = a[this.keys.backendType] ?? '';
    let data: JsonValue;
    let data6: JsonValue;
    try {
      data = JSON.parse(rawData) as JsonValue;
    } catch {
      return skip(`${this.keys.backendData} is not JSON: ${JSON.stringify(rawData.slice(0, 80))}`);
    }
    try {
      data6 = JSON.parse(rawData6) as JsonValue;
    } catch {
      return skip(`${this.keys.backendV6Data} is not JSON: ${JSON.stringify(rawData6.slice(0, 80))}`);
    }
    this.#skipped.delete(name);
    let attrs: LeaseAttrs = {
      publicIp: ip,
      publicIpv6: ip6,
      ...(type ? { backendType: type } : {}),
      ...(data !== null ? { backendData: data } : {}),
      ...(data6 !== null ? { backendV6Data: data6 } : {}),
    };
    // Our own node, published with an overwrite annotation: it is still the lease we hold.
    if (
      name === this.#nodeName &&
      this.#published &&
      (a[this.keys.backendPublicIpOverwrite] === ip || (ip6 !== null && a[this.keys.backendPublicIpv6Overwrite] === ip6))
    )
      attrs = this.#published;
    const six = ipv6Subnet ? { ipv6Subnet } : {};
    return {
      subnet,
      ...six,
      lease: { subnet, ...six, attrs, reservation: true },
      key: `${rawData}\n${type}\n${ip}\n${rawData6}\n${ip6 ?? ''}`,
    };
  }

  #index(nodes: KubeNode[]): Map<string, Known> {
    const known = new Map<string, Known>();
    for (const n of nodes) {
      const k = this.#leaseOf(n);
      if (k) known.set(n.metadata?.name ?? '', k);
    }
    return known;
  }

  async #listNodes(): Promise<{ rv: string; known: Map<string, Known> }> {
    const list = (await this.client.call('GET', '/api/v1/nodes', kNodes)) as {
      metadata?: { resourceVersion?: string };
      items?: KubeNode[];
    };
    return { rv: list.metadata?.resourceVersion ?? '', known: this.#index(list.items ?? []) };
  }

  async list(): Promise<LeaseSnapshot> {
    await this.nodeName();
    const { rv, known } = await this.#listNodes();
    const revision = ++this.#seq;
    this.#listed = { revision, rv, known };
    return { leases: [...known.values()].map((k) => k.lease), revision };
  }

  watch(afterRevision: number, onEvent: (event: StoreEvent) => void, opts: WatchOptions = {}): StoreWatch {
    const start = this.#listed?.revision === afterRevision ? this.#listed : undefined;
    let rv = start?.rv ?? '';
    let known = new Map(start?.known ?? []);
    let closed = false;
    let current: { abort(): void } | undefined;
    let wake: (() => void) | undefined;
    // `wakeable`: the API was unreachable, so a successful probe (ping()) ends the wait early.
    const sleep = (ms: number, wakeable = false): Promise<void> =>
      new Promise((r) => {
        const done = (): void => {
          clearTimeout(t);
          this.#wakers.delete(done);
          wake = undefined;
          r();
        };
        const t = setTimeout(done, ms);
        wake = done;
        if (wakeable) this.#wakers.add(done);
      });
    const emitResync = (next: Map<string, Known>, nextRv: string): void => {
      known = next;
      rv = nextRv;
      onEvent({ type: 'resync', leases: [...next.values()].map((k) => k.lease), revision: ++this.#seq });
    };
    const apply = (type: string, node: KubeNode): void => {
      const name = node.metadata?.name ?? '';
      const before = known.get(name);
      if (type === 'DELETED') {
        if (!before) return;
        known.delete(name);
        onEvent({
          type: 'delete',
          subnet: before.subnet,
          ...(before.ipv6Subnet ? { ipv6Subnet: before.ipv6Subnet } : {}),
          revision: ++this.#seq,
        });
        return;
      }
      const after = this.#leaseOf(node);
      if (!after) return; // not (or no longer validly) managed: flannel ignores it
      if (before && before.key === after.key) return; // podCIDR-only or unrelated change
      known.set(name, after);
      onEvent({
        type: 'put',
        subnet: after.subnet,
        ...(after.ipv6Subnet ? { ipv6Subnet: after.ipv6Subnet } : {}),
        lease: after.lease,
        revision: ++this.#seq,
      });
    };
    const relist = async (): Promise<void> => {
      const l = await this.#listNodes();
      emitResync(l.known, l.rv);
    };

    const loop = async (): Promise<void> => {
      let backoff = 1000;
      let broken = true;
      let lastResync = Date.now();
      const resyncMs = this.#o.resyncMs ?? 5 * 60_000;
      if (!start) await relist().catch((err: Error) => opts.onError?.(err));
      while (!closed) {
        try {
          if (Date.now() - lastResync >= resyncMs) {
            await relist();
            lastResync = Date.now();
          }
          const timeout = Math.max(1, Math.min(300, Math.ceil((resyncMs - (Date.now() - lastResync)) / 1000)));
          const q = `watch=true&allowWatchBookmarks=true&timeoutSeconds=${timeout}${rv ? `&resourceVersion=${encodeURIComponent(rv)}` : ''}`;
          let gone = false;
          let failure: KubeApiError | undefined;
          let events = 0;
          const openedAt = Date.now();
          const w = this.client.watch(
            `/api/v1/nodes?${q}`,
            kWatch,
            (ev) => {
              const object = ev.object as KubeNode & { code?: number };
              if (ev.type === 'ERROR') {
                if (object.code === 410) gone = true;
                else
                  failure = new KubeApiError(
                    `Kubernetes API watch error: ${JSON.stringify(ev.object).slice(0, 200)}`,
                    object.code ?? 0,
                    undefined,
                  );
                w.abort();
                return;
              }
              events++;
              const v = object.metadata?.resourceVersion;
              if (ev.type !== 'BOOKMARK') apply(ev.type, object);
              if (v) rv = v;
            },
            // The server ends the stream after timeoutSeconds; one that
            // vanished without closing the connection is cut a little later.
            {
              deadlineMs: timeout * 1000 + 30_000,
              // Reported the first time and after a failure, not at every timeoutSeconds renewal.
              onOpen: () => {
                if (!broken) return;
                broken = false;
                opts.onOpen?.();
              },
            },
          );
          current = w;
          await w.done;
          current = undefined;
          if (closed) return;
          if (failure) throw failure; // an ERROR event other than 410: retried with backoff
          if (gone) {
            await relist(); // 410 Gone: the version left the server's history
            backoff = 1000;
            continue;
          }
          if (events === 0 && Date.now() - openedAt < 1000) {
            // Ended at once with nothing in it: not a healthy stream, so no tight loop.
            await sleep(backoff);
            backoff = Math.min(backoff * 2, this.#o.maxBackoffMs ?? 30_000);
          } else backoff = 1000;
        } catch (err) {
          current = undefined;
          if (closed) return;
          broken = true;
          if (err instanceof KubeApiError && err.status === 410) {
            await relist().catch((e: Error) => opts.onError?.(e));
            continue;
          }
          opts.onError?.(err as Error);
          // Unreachable (status 0) waits for the API to come back; an answer such as 500 or 403 waits its full backoff.
          await sleep(backoff, !(err instanceof KubeApiError) || err.status === 0);
          backoff = Math.min(backoff * 2, this.#o.maxBackoffMs ?? 30_000);
        }
      }
    };
    const running = loop();
    const handle = {
      close: async (): Promise<void> => {
        closed = true;
        current?.abort();
        wake?.();
        await running;
        this.#watches.delete(handle);
      },
    };
    this.#watches.add(handle);
    return handle;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watches].map((w) => w.close()));
    this.client.close();
  }
}
