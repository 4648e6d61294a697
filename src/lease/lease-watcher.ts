// Peer tracking with flannel's LeaseWatcher semantics (flannel-facts §2,
// "Watching leases"), fed by LeaseStore events.
//
// - Events for the node's own lease are dropped. Leases are known by their
//   key (leaseId: the IPv4 subnet and, dual stack, the IPv6 one), as flannel's
//   sameSubnet compares both families.
// - A put replaces the cached lease for its subnet; a delete returns the
//   cached lease, so consumers still know the old PublicIP / VtepMAC.
// - A resync snapshot is diffed against the cache into added/removed events.
// - vxlan nodes only accept leases with BackendType `vxlan`, host-gw nodes
//   only `host-gw`; udp nodes accept any (flannel does the same in its
//   backends). A known lease re-put with a foreign type is reported removed.
// - weft refinement: a put identical to the cached lease (a peer's renewal)
//   produces no event, so consumers are not reprogrammed every renewal.

import type { BackendType } from '../config/network-config';
import { sameLeaseAttrs } from '../store/lease-json';
import { type LeaseRef, type StoreEvent, type StoredLease, leaseId } from '../store/lease-store';

export type PeerEvent = { readonly type: 'added'; readonly lease: StoredLease } | { readonly type: 'removed'; readonly lease: StoredLease };

export function acceptsBackend(own: BackendType, lease: StoredLease): boolean {
  if (own === 'udp') return true;
  return lease.attrs.backendType === own;
}

export class LeaseWatcher {
  readonly #backend: BackendType;
  readonly #cache = new Map<string, StoredLease>();
  #own: string | undefined;

  constructor(opts: { backendType: BackendType; ownSubnet?: LeaseRef }) {
    this.#backend = opts.backendType;
    this.#own = opts.ownSubnet && leaseId(opts.ownSubnet);
  }

  /** Changes the lease treated as our own; a cached peer with those subnets is reported removed. */
  setOwnSubnet(subnet: LeaseRef): PeerEvent[] {
    this.#own = leaseId(subnet);
    const cached = this.#cache.get(this.#own);
    if (!cached) return [];
    this.#cache.delete(this.#own);
    return [{ type: 'removed', lease: cached }];
  }

  /** The peers known now. */
  leases(): StoredLease[] {
    return [...this.#cache.values()];
  }

  apply(event: StoreEvent): PeerEvent[] {
    if (event.type === 'resync') return this.reset(event.leases);
    const id = leaseId(event);
    if (id === this.#own) return [];
    const cached = this.#cache.get(id);
    if (event.type === 'delete') {
      if (!cached) return [];
      this.#cache.delete(id);
      return [{ type: 'removed', lease: cached }];
    }
    if (!acceptsBackend(this.#backend, event.lease)) {
      if (!cached) return [];
      this.#cache.delete(id);
      return [{ type: 'removed', lease: cached }];
    }
    this.#cache.set(id, event.lease);
    if (cached && sameLeaseAttrs(cached.attrs, event.lease.attrs)) return [];
    return [{ type: 'added', lease: event.lease }];
  }

  /** Replaces the cache with a snapshot; returns what changed. */
  reset(snapshot: readonly StoredLease[]): PeerEvent[] {
    const out: PeerEvent[] = [];
    const next = new Map<string, StoredLease>();
    for (const lease of snapshot) {
      const id = leaseId(lease);
      if (id === this.#own || !acceptsBackend(this.#backend, lease)) continue;
      next.set(id, lease);
      const cached = this.#cache.get(id);
      if (!cached || !sameLeaseAttrs(cached.attrs, lease.attrs)) out.push({ type: 'added', lease });
    }
    for (const [id, cached] of this.#cache) {
      if (!next.has(id)) out.push({ type: 'removed', lease: cached });
    }
    this.#cache.clear();
    for (const [id, lease] of next) this.#cache.set(id, lease);
    return out;
  }
}
