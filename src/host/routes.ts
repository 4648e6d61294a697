// host-gw routes (flannel-facts §7): for each peer lease,
//   <peer subnet> via <peer PublicIP> dev <external interface>
// written with `ip route replace` (which also replaces a route to the same
// destination with another gateway, as flannel deletes-then-adds), read
// back with `ip -j`. HostGwRoutes keeps the desired set and, like flannel's
// routeCheck, re-adds any of its routes missing from the kernel every 10 s.
// IPv6 leases get the same route through `ip -6` (peer IPv6 subnet via its
// PublicIPv6), as flannel's host-gw does for dual stack.

import { ErrorCode, WeftError } from '../errors';
import { type Cidr, formatCidr, parseCidr } from '../net/cidr';
import { type Cidr6, formatCidr6, parseCidr6 } from '../net/cidr6';
import { isIPv4 } from '../net/ip';
import { isIPv6 } from '../net/ip6';
import { type CommandRunner, mustRun, runCommand } from './exec';

export interface HostRoute {
  readonly dst: Cidr;
  readonly gateway: string;
  readonly dev: string;
}

/** An IPv6 route (host-gw dual stack). */
export interface HostRoute6 {
  readonly dst: Cidr6;
  readonly gateway: string;
  readonly dev: string;
}

export type AnyRoute = HostRoute | HostRoute6;

interface IpJsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
}

/** `ip -j <args>` (a route listing) parsed; empty output is no route. */
async function ipRoutes(run: CommandRunner, args: string[]): Promise<IpJsonRoute[]> {
  const out = await mustRun(run, 'ip', ['-j', ...args]);
  try {
    return JSON.parse(out.trim() === '' ? '[]' : out) as IpJsonRoute[];
  } catch (err) {
    throw new WeftError(ErrorCode.HOST, `cannot parse \`ip -j ${args.join(' ')}\` output: ${(err as Error).message}`, { cause: err });
  }
}

/** IPv4 routes of the main table with a gateway (`ip -j -4 route show`), optionally only those on `dev`. */
export async function listRoutes(run: CommandRunner = runCommand, dev?: string): Promise<HostRoute[]> {
  const parsed = await ipRoutes(run, ['-4', 'route', 'show']);
  const routes: HostRoute[] = [];
  for (const r of parsed) {
    if (!r.dst || !r.gateway || !r.dev || (dev !== undefined && r.dev !== dev)) continue;
    const dst = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`, { strict: true });
    if (dst) routes.push({ dst, gateway: r.gateway, dev: r.dev });
  }
  return routes;
}

/** IPv6 routes of the main table with a gateway (`ip -j -6 route show`), optionally only those on `dev`. */
export async function listRoutes6(run: CommandRunner = runCommand, dev?: string): Promise<HostRoute6[]> {
  const parsed = await ipRoutes(run, ['-6', 'route', 'show']);
  const routes: HostRoute6[] = [];
  for (const r of parsed) {
    if (!r.dst || !r.gateway || !r.dev || (dev !== undefined && r.dev !== dev)) continue;
    const dst = parseCidr6(r.dst.includes('/') ? r.dst : `${r.dst}/128`, { strict: true });
    if (dst) routes.push({ dst, gateway: r.gateway, dev: r.dev });
  }
  return routes;
}

const isV6 = (dst: Cidr | Cidr6): dst is Cidr6 => typeof dst.ip === 'bigint';

/** The destination as `ip` prints it. */
export function routeDst(dst: Cidr | Cidr6): string {
  return isV6(dst) ? formatCidr6(dst) : formatCidr(dst);
}

export async function replaceRoute(route: AnyRoute, run: CommandRunner = runCommand): Promise<void> {
  const v6 = isV6(route.dst);
  if (v6 ? !isIPv6(route.gateway) : !isIPv4(route.gateway))
    throw new WeftError(ErrorCode.HOST, `route gateway must be an IPv${v6 ? 6 : 4} address, got ${JSON.stringify(route.gateway)}`);
  await mustRun(run, 'ip', [...(v6 ? ['-6'] : []), 'route', 'replace', routeDst(route.dst), 'via', route.gateway, 'dev', route.dev]);
}

/** Deletes the route to dst via gateway on dev; a route already gone is not an error. */
export async function deleteRoute(route: AnyRoute, run: CommandRunner = runCommand): Promise<void> {
  const v6 = isV6(route.dst);
  const r = await run('ip', [...(v6 ? ['-6'] : []), 'route', 'del', routeDst(route.dst), 'via', route.gateway, 'dev', route.dev]);
  if (r.code !== 0 && !/No such process|not found|Cannot find device/i.test(r.stderr)) {
    throw new WeftError(ErrorCode.HOST, `ip route del ${routeDst(route.dst)} failed: ${r.stderr.trim()}`);
  }
}

export interface HostGwRoutesOptions {
  /** The external interface the peers are reached through. */
  dev: string;
  run?: CommandRunner;
  /** Period of the missing-route check, ms (flannel: 10 s). */
  checkIntervalMs?: number;
  onError?: (err: Error) => void;
}

/** The host-gw route set: one route per peer subnet, kept in the kernel. */
export class HostGwRoutes {
  readonly #opts: HostGwRoutesOptions;
  readonly #run: CommandRunner;
  readonly #desired = new Map<string, AnyRoute>();
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: HostGwRoutesOptions) {
    this.#opts = opts;
    this.#run = opts.run ?? runCommand;
  }

  /** Adds or moves the route for a peer subnet. */
  async set(dst: Cidr | Cidr6, gateway: string): Promise<void> {
    const route = { dst, gateway, dev: this.#opts.dev } as AnyRoute;
    this.#desired.set(routeDst(dst), route);
    await this.#serial(() => replaceRoute(route, this.#run));
  }

  async delete(dst: Cidr | Cidr6): Promise<void> {
    const route = this.#desired.get(routeDst(dst));
    if (!route) return;
    this.#desired.delete(routeDst(dst));
    await this.#serial(() => deleteRoute(route, this.#run));
  }

  routes(): AnyRoute[] {
    return [...this.#desired.values()];
  }

  /** Re-adds desired routes missing from the kernel; returns how many it re-added. */
  async reconcile(): Promise<number> {
    let added = 0;
    await this.#serial(async () => {
      const want = [...this.#desired.values()];
      const listed: AnyRoute[] = [
        ...(await listRoutes(this.#run, this.#opts.dev)),
        ...(want.some((r) => isV6(r.dst)) ? await listRoutes6(this.#run, this.#opts.dev) : []),
      ];
      const present = new Set(listed.map((r) => `${routeDst(r.dst)} ${r.gateway}`));
      for (const r of want) {
        if (present.has(`${routeDst(r.dst)} ${r.gateway}`)) continue;
        await replaceRoute(r, this.#run);
        added++;
      }
    });
    return added;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.reconcile().catch((err: Error) => this.#opts.onError?.(err));
    }, this.#opts.checkIntervalMs ?? 10_000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#chain;
  }

  /** Deletes every route this set installed (`weft cleanup`). */
  async removeAll(): Promise<void> {
    await this.stop();
    for (const r of [...this.#desired.values()]) await this.delete(r.dst);
  }

  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#chain.then(fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }
}

/**
 * `--ip-blackhole-route` (flannel-facts §9): a blackhole route for the node's
 * own lease in each family (`ip route add blackhole <subnet>`), so a packet
 * to an address of the lease that no pod holds is dropped here instead of
 * following the default route out, where no bridge plugin routes the lease
 * (Canal). As flanneld: it is re-added when missing every resync period and
 * never removed on shutdown (`weft cleanup` removes it). Unlike flanneld,
 * the first check runs at once, not after the first period.
 */
export class BlackholeRoutes {
  readonly #dsts: readonly (Cidr | Cidr6)[];
  readonly #run: CommandRunner;
  readonly #onError: (dst: string, err: Error) => void;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;

  constructor(dsts: readonly (Cidr | Cidr6)[], run: CommandRunner, onError: (dst: string, err: Error) => void) {
    this.#dsts = dsts;
    this.#run = run;
    this.#onError = onError;
  }

  /** Adds the missing routes now, then every `intervalMs`. */
  async start(intervalMs: number): Promise<void> {
    await this.check();
    this.#timer = setInterval(() => void this.check(), intervalMs);
    this.#timer.unref();
  }

  /** One pass: each route that is not in the main table is added; a failure is reported, not thrown. */
  check(): Promise<void> {
    this.#checking ??= (async () => {
      for (const dst of this.#dsts) {
        try {
          if (!(await hasBlackhole(dst, this.#run)))
            await mustRun(this.#run, 'ip', [...family(dst), 'route', 'add', 'blackhole', routeDst(dst)]);
        } catch (err) {
          this.#onError(routeDst(dst), err as Error);
        }
      }
    })().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#checking;
  }

  /** Stops and removes the routes (a start-up that failed undoes what it added). */
  async remove(): Promise<void> {
    await this.stop();
    for (const dst of this.#dsts) await deleteBlackhole(dst, this.#run);
  }
}

const family = (dst: Cidr | Cidr6) => (isV6(dst) ? ['-6'] : ['-4']);

/** Whether the main table has a blackhole route to exactly `dst`. */
export async function hasBlackhole(dst: Cidr | Cidr6, run: CommandRunner = runCommand): Promise<boolean> {
  return (await ipRoutes(run, [...family(dst), 'route', 'show', 'type', 'blackhole', 'exact', routeDst(dst)])).length > 0;
}

/** Removes the blackhole route to `dst`; one already gone is not an error. Returns whether one was removed. */
export async function deleteBlackhole(dst: Cidr | Cidr6, run: CommandRunner = runCommand): Promise<boolean> {
  if (!(await hasBlackhole(dst, run))) return false;
  await mustRun(run, 'ip', [...family(dst), 'route', 'del', 'blackhole', routeDst(dst)]);
  return true;
}
