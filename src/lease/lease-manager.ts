// The lease manager: acquires this node's subnet, keeps it alive and reports
// peers. Store-agnostic: it only uses the LeaseStore interface, so an
// embedder can bring its own store.
//
// Acquisition (flannel LocalManager.tryAcquireLease, up to 10 race retries):
//   1. a lease whose PublicIP is ours and fits the config is reused (re-put
//      with our attrs; a reservation stays TTL-less); one that does not fit
//      is deleted (reservations are never deleted);
//   2. else the previous subnet from subnet.env, if free and compatible;
//   3. else a random one among the first 100 free ones; none → out of subnets.
//   Dual stack (EnableIPv6): the IPv6 subnet goes the same way beside the
//   IPv4 one (a reused lease must fit both; the IPv6 subnet is picked
//   independently), and the key names both. IPv6-only (EnableIPv4 false):
//   the IPv4 half is flannel's empty 0.0.0.0/0 and step 1 matches by
//   PublicIPv6 — flanneld v0.28 matches by the (then 0.0.0.0) IPv4 PublicIP,
//   so its second IPv6-only node would reuse the first one's lease; weft
//   gives each node its own.
//   The create is acquireIfAbsent; losing the race retries from step 1.
//   A store that assigns the subnet itself (LeaseStore.assignedSubnet, the
//   Kubernetes podCIDR) skips all of this: its subnet is put without TTL.
//
// Maintenance after start():
//   - renewal: a plain put with a fresh TTL at expiry − margin; on failure it
//     retries every retryIntervalMs (flannel: 1 min);
//   - the watch feeds a LeaseWatcher (peer add/remove events) and watches our
//     own key. Where flannel exits when its lease is deleted, weft
//     re-acquires, the same subnet if it is still free (onLeaseChange fires
//     when the subnet had to change). Our key rewritten with another node's
//     PublicIP counts as lost too (flannel would keep renewing over it).
//
// All state changes run one at a time on an internal promise chain.

import type { NetworkConfig } from '../config/network-config';
import { ErrorCode, WeftError, invalidOption } from '../errors';
import { type Cidr, formatCidr } from '../net/cidr';
import { type Cidr6, cidr6Overlaps, formatCidr6 } from '../net/cidr6';
import { NO_IPV4_SUBNET, hasIpv4Subnet } from '../store/keys';
import { type LeaseAttrs, sameLeaseAttrs } from '../store/lease-json';
import { type LeaseStore, type LeaseSubnets, type StoreEvent, type StoreWatch, type StoredLease, leaseId } from '../store/lease-store';
import { LeaseWatcher, type PeerEvent } from './lease-watcher';
import {
  TakenSet,
  isCompatibleSubnet,
  isCompatibleSubnet4,
  isCompatibleSubnet6,
  isUsableReservation,
  pickFreeSubnet,
  pickFreeSubnet6,
} from './subnet-allocator';

/** flannel's subnetTTL. */
export const DEFAULT_LEASE_TTL_SEC = 24 * 60 * 60;
export const DEFAULT_RENEW_MARGIN_MINUTES = 60;
export const RACE_RETRIES = 10;

export interface OwnLease {
  /** NO_IPV4_SUBNET (0.0.0.0/0) on an IPv6-only node. */
  readonly subnet: Cidr;
  /** Present with EnableIPv6. */
  readonly ipv6Subnet?: Cidr6;
  readonly attrs: LeaseAttrs;
  /** Held as a key without TTL; never renewed. */
  readonly reservation: boolean;
  /** ms since the epoch; null for a reservation. */
  readonly expiresAt: number | null;
}

export interface LeaseManagerOptions {
  store: LeaseStore;
  config: NetworkConfig;
  /** What this node publishes (see leaseAttrsFor). */
  attrs: LeaseAttrs;
  /** FLANNEL_SUBNET from the previous subnet.env, tried before a random subnet. */
  previousSubnet?: Cidr;
  /** FLANNEL_IPV6_SUBNET from the previous subnet.env. */
  previousIpv6Subnet?: Cidr6;
  ttlSec?: number;
  /** `--subnet-lease-renew-margin`, minutes 1..1439 (default 60). */
  renewMarginMinutes?: number;
  /** The margin in ms; overrides renewMarginMinutes (short TTLs in tests). Must be below the TTL. */
  renewMarginMs?: number;
  /** Delay between failed renewals (default 60 000, flannel's 1 min). */
  retryIntervalMs?: number;
  /** Random source in [0, 1) for the subnet choice. */
  random?: () => number;
  onPeer?: (event: PeerEvent) => void;
  /** Our subnet had to change (our lease was deleted and its subnet taken). */
  onLeaseChange?: (lease: OwnLease, previous: OwnLease) => void;
  /** Our lease was renewed or re-acquired on the same subnet. */
  onRenew?: (lease: OwnLease) => void;
  /** Failures the manager recovers from by itself (renewal, watch, re-acquire). */
  onError?: (err: Error, during: 'renew' | 'watch' | 'reacquire') => void;
  /** The store's watch stream opened (again); for logs. */
  onWatchOpen?: () => void;
}

export function validateRenewMargin(minutes: unknown): number {
  if (typeof minutes !== 'number' || !Number.isInteger(minutes) || minutes < 1 || minutes > 1439) {
    throw invalidOption('subnetLeaseRenewMargin', 'an integer number of minutes 1..1439', minutes);
  }
  return minutes;
}

export class LeaseManager {
  readonly #o: LeaseManagerOptions;
  readonly #ttl: number;
  readonly #marginMs: number;
  readonly #retryMs: number;
  readonly #watcher: LeaseWatcher;
  #lease: OwnLease | undefined;
  #watch: StoreWatch | undefined;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: LeaseManagerOptions) {
    this.#o = opts;
    this.#ttl = opts.ttlSec ?? DEFAULT_LEASE_TTL_SEC;
    if (!(this.#ttl > 0)) throw invalidOption('ttlSec', 'a positive number', opts.ttlSec);
    this.#marginMs = opts.renewMarginMs ?? validateRenewMargin(opts.renewMarginMinutes ?? DEFAULT_RENEW_MARGIN_MINUTES) * 60_000;
    if (!(this.#marginMs >= 0 && this.#marginMs < this.#ttl * 1000)) {
      throw invalidOption('renewMarginMs', `a number of ms below the lease TTL (${this.#ttl * 1000})`, this.#marginMs);
    }
    this.#retryMs = opts.retryIntervalMs ?? 60_000;
    this.#watcher = new LeaseWatcher({ backendType: opts.config.backend.type });
  }

  /** The lease held now (undefined before acquire()). */
  get lease(): OwnLease | undefined {
    return this.#lease;
  }

  /** The peers known now (after start()). */
  peers(): StoredLease[] {
    return this.#watcher.leases();
  }

  /** Runs flannel's acquisition algorithm and returns the lease. */
  async acquire(): Promise<OwnLease> {
    const o = this.#o;
    const previous: LeaseSubnets | undefined =
      o.previousSubnet || o.previousIpv6Subnet
        ? { subnet: o.previousSubnet ?? NO_IPV4_SUBNET, ...(o.previousIpv6Subnet ? { ipv6Subnet: o.previousIpv6Subnet } : {}) }
        : undefined;
    const lease = await this.#acquire(previous);
    this.#setLease(lease);
    return lease;
  }

  /** Is this stored lease ours by its public address (flannel step 1)? */
  #isOurs(l: StoredLease): boolean {
    const { config, attrs } = this.#o;
    return config.enableIPv4 ? l.attrs.publicIp === attrs.publicIp : attrs.publicIpv6 !== null && l.attrs.publicIpv6 === attrs.publicIpv6;
  }

  #fits(l: LeaseSubnets, reservation: boolean): boolean {
    const c = this.#o.config;
    const v4 = !c.enableIPv4 ? l.subnet.prefixLen === 0 : reservation ? isUsableReservation(c, l.subnet) : isCompatibleSubnet(c, l.subnet);
    return v4 && isCompatibleSubnet6(c, l.ipv6Subnet);
  }

  async #acquire(previous: LeaseSubnets | undefined): Promise<OwnLease> {
    const { store, config, attrs } = this.#o;
    if (store.assignedSubnet) {
      // The store decides (Kubernetes: the node's podCIDRs); publishing is a put.
      const subnets = await store.assignedSubnet(config);
      await store.put(subnets, attrs, null);
      return this.#own(subnets, null);
    }
    for (let attempt = 0; attempt < RACE_RETRIES; attempt++) {
      const snap = await store.list();
      const taken = new TakenSet(config.subnetLen, []);
      const taken6: Cidr6[] = [];
      const take = (l: StoredLease): void => {
        if (hasIpv4Subnet(l.subnet)) taken.add(l.subnet);
        if (l.ipv6Subnet) taken6.push(l.ipv6Subnet);
      };
      let reused: StoredLease | undefined;
      for (const l of snap.leases) {
        if (!this.#isOurs(l) || reused) {
          take(l);
          continue;
        }
        if (this.#fits(l, l.reservation)) reused = l;
        else if (l.reservation)
          take(l); // an unusable reservation stays, and stays taken
        else await store.delete(l); // flannel: a stale lease of ours that no longer fits
      }
      if (reused) {
        const ttl = reused.reservation ? null : this.#ttl;
        await store.put(reused, attrs, ttl);
        return this.#own(reused, ttl);
      }
      let candidate: LeaseSubnets | undefined;
      const prevFree =
        previous &&
        isCompatibleSubnet4(config, previous.subnet) &&
        isCompatibleSubnet6(config, previous.ipv6Subnet) &&
        !(hasIpv4Subnet(previous.subnet) && taken.overlaps(previous.subnet)) &&
        !(previous.ipv6Subnet && taken6.some((t) => cidr6Overlaps(t, previous!.ipv6Subnet!)));
      if (prevFree) candidate = previous;
      else {
        const v4 = config.enableIPv4 ? pickFreeSubnet(config, taken, this.#o.random) : NO_IPV4_SUBNET;
        const v6 = config.ipv6 ? pickFreeSubnet6(config, taken6, this.#o.random) : undefined;
        if (v4 && (!config.ipv6 || v6)) candidate = { subnet: v4, ...(v6 ? { ipv6Subnet: v6 } : {}) };
      }
      if (!candidate) throw new WeftError(ErrorCode.OUT_OF_SUBNETS, 'out of subnets');
      if (await store.acquireIfAbsent(candidate, attrs, this.#ttl)) return this.#own(candidate, this.#ttl);
      previous = undefined; // someone else took it between list and create
    }
    throw new WeftError(ErrorCode.STORE, 'max retries reached trying to acquire a subnet', { recoverable: true });
  }

  #own(subnets: LeaseSubnets, ttl: number | null): OwnLease {
    return Object.freeze({
      subnet: subnets.subnet,
      ...(subnets.ipv6Subnet ? { ipv6Subnet: subnets.ipv6Subnet } : {}),
      attrs: this.#o.attrs,
      reservation: ttl === null,
      expiresAt: ttl === null ? null : Date.now() + ttl * 1000,
    });
  }

  #setLease(lease: OwnLease): void {
    this.#lease = lease;
    for (const e of this.#watcher.setOwnSubnet(lease)) this.#o.onPeer?.(e);
  }

  /**
   * Starts renewal and the watch. Reports every current peer as 'added' before
   * it resolves, then changes as they happen.
   */
  async start(): Promise<void> {
    if (!this.#lease) throw new WeftError(ErrorCode.USAGE, 'LeaseManager.start() needs acquire() first');
    const snap = await this.#o.store.list();
    this.#emit(this.#watcher.reset(snap.leases));
    this.#checkOwn(snap.leases);
    this.#watch = this.#o.store.watch(snap.revision, (e) => this.#onEvent(e), {
      onError: (err) => this.#o.onError?.(err, 'watch'),
      ...(this.#o.onWatchOpen ? { onOpen: this.#o.onWatchOpen } : {}),
    });
    this.#schedule();
  }

  #emit(events: PeerEvent[]): void {
    for (const e of events) this.#o.onPeer?.(e);
  }

  #onEvent(event: StoreEvent): void {
    if (this.#stopped) return;
    this.#emit(this.#watcher.apply(event));
    const own = this.#lease;
    if (!own) return;
    if (event.type === 'resync') this.#checkOwn(event.leases);
    else if (leaseId(event) === leaseId(own)) {
      if (event.type === 'delete' || !this.#isOurs(event.lease)) this.#enqueue(() => this.#reacquire());
      else this.#ownPut(event.lease);
    }
  }

  /** After a snapshot: our lease missing means it was deleted while we were not looking. */
  #checkOwn(leases: readonly StoredLease[]): void {
    const own = this.#lease;
    if (!own) return;
    const found = leases.find((l) => leaseId(l) === leaseId(own));
    if (!found || !this.#isOurs(found)) this.#enqueue(() => this.#reacquire());
    else this.#ownPut(found);
  }

  /** Someone (we, or an operator) wrote our key: follow a switch to/from reservation. */
  #ownPut(stored: StoredLease): void {
    const own = this.#lease;
    if (!own || !sameLeaseAttrs(stored.attrs, own.attrs) || stored.reservation === own.reservation) return;
    this.#lease = Object.freeze({
      ...own,
      reservation: stored.reservation,
      expiresAt: stored.reservation ? null : (stored.expiresAt ?? Date.now() + this.#ttl * 1000),
    });
    this.#schedule();
  }

  #enqueue(fn: () => Promise<void>): void {
    this.#chain = this.#chain.then(fn).catch(() => undefined);
  }

  async #reacquire(): Promise<void> {
    const previous = this.#lease;
    if (this.#stopped || !previous) return;
    try {
      let next: OwnLease;
      if (await this.#o.store.acquireIfAbsent(previous, this.#o.attrs, this.#ttl)) next = this.#own(previous, this.#ttl);
      else next = await this.#acquire(undefined);
      if (this.#stopped) return;
      this.#setLease(next);
      this.#schedule();
      if (leaseId(next) === leaseId(previous)) {
        this.#o.onRenew?.(next);
        return;
      }
      this.#o.onLeaseChange?.(next, previous);
      // Events for our old subnet were dropped while it was ours: a peer may hold it now.
      this.#emit(this.#watcher.reset((await this.#o.store.list()).leases));
    } catch (err) {
      this.#o.onError?.(err as Error, 'reacquire');
      if (!this.#stopped) setTimeout(() => this.#enqueue(() => this.#reacquireIfMissing()), this.#retryMs).unref();
    }
  }

  async #reacquireIfMissing(): Promise<void> {
    const own = this.#lease;
    if (this.#stopped || !own) return;
    const snap = await this.#o.store.list();
    if (!snap.leases.some((l) => leaseId(l) === leaseId(own) && sameLeaseAttrs(l.attrs, own.attrs))) {
      await this.#reacquire();
    }
  }

  #schedule(delayMs?: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const own = this.#lease;
    if (this.#stopped || !own || own.reservation || own.expiresAt === null) return;
    const delay = delayMs ?? Math.max(0, own.expiresAt - this.#marginMs - Date.now());
    this.#timer = setTimeout(() => this.#enqueue(() => this.#renew()), delay);
    this.#timer.unref();
  }

  /** Renews now (a plain put with a fresh TTL, as flannel). */
  async renewNow(): Promise<void> {
    const done = this.#chain.then(() => this.#renew(true));
    this.#chain = done.catch(() => undefined);
    return done;
  }

  async #renew(rethrow = false): Promise<void> {
    const own = this.#lease;
    if (this.#stopped || !own || own.reservation) return;
    try {
      await this.#o.store.put(own, own.attrs, this.#ttl);
      if (this.#lease !== own) return; // re-acquired meanwhile
      this.#lease = this.#own(own, this.#ttl);
      this.#schedule();
      this.#o.onRenew?.(this.#lease);
    } catch (err) {
      this.#o.onError?.(err as Error, 'renew');
      this.#schedule(this.#retryMs);
      if (rethrow) throw err;
    }
  }

  /** Stops renewal and the watch. Like flanneld, the lease stays in the store for a restart to reuse. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#watch?.close();
    this.#watch = undefined;
    await this.#chain;
  }

  /** Stops, then deletes our lease from the store (`weft cleanup`, tests). */
  async release(): Promise<void> {
    await this.stop();
    if (this.#lease) await this.#o.store.delete(this.#lease);
  }

  /** For logs: `10.244.3.0/24`, `10.244.3.0/24 fd00:10:244:3::/64`. */
  describe(): string {
    return this.#lease ? describeLease(this.#lease) : '(no lease)';
  }
}

/** A lease's subnets for logs: `10.244.3.0/24`, `10.244.3.0/24 fd00:10:244:3::/64`, `fd00:10:244:3::/64`. */
export function describeLease(l: LeaseSubnets): string {
  const parts = [...(hasIpv4Subnet(l.subnet) ? [formatCidr(l.subnet)] : []), ...(l.ipv6Subnet ? [formatCidr6(l.ipv6Subnet)] : [])];
  return parts.join(' ');
}
