// host-gw routes (flannel-facts §7): for each peer lease,
//   <peer subnet> via <peer PublicIP> dev <external interface>
// written with `ip route replace` (which also replaces a route to the same
// destination with another gateway, as flannel deletes-then-adds), read
// back with `ip -j`. HostGwRoutes keeps the desired set and, like flannel's
// routeCheck, re-adds any of its routes missing from the kernel every 10 s.

import { ErrorCode, WeftError } from '../errors';
import { type Cidr, formatCidr, parseCidr } from '../net/cidr';
import { isIPv4 } from '../net/ip';
import { type CommandRunner, mustRun, runCommand } from './exec';

export interface HostRoute {
  readonly dst: Cidr;
  readonly gateway: string;
  readonly dev: string;
}

interface IpJsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
}

/** IPv4 routes of the main table with a gateway (`ip -j -4 route show`), optionally only those on `dev`. */
export async function listRoutes(run: CommandRunner = runCommand, dev?: string): Promise<HostRoute[]> {
  const out = await mustRun(run, 'ip', ['-j', '-4', 'route', 'show']);
  let parsed: IpJsonRoute[];
  try {
    parsed = JSON.parse(out.trim() === '' ? '[]' : out) as IpJsonRoute[];
  } catch (err) {
    throw new WeftError(ErrorCode.HOST, `cannot parse \`ip -j route show\` output: ${(err as Error).message}`, { cause: err });
  }
  const routes: HostRoute[] = [];
  for (const r of parsed) {
    if (!r.dst || !r.gateway || !r.dev || (dev !== undefined && r.dev !== dev)) continue;
    const dst = parseCidr(r.dst.includes('/') ? r.dst : `${r.dst}/32`, { strict: true });
    if (dst) routes.push({ dst, gateway: r.gateway, dev: r.dev });
  }
  return routes;
}

export async function replaceRoute(route: HostRoute, run: CommandRunner = runCommand): Promise<void> {
  if (!isIPv4(route.gateway))
    throw new WeftError(ErrorCode.HOST, `route gateway must be an IPv4 address, got ${JSON.stringify(route.gateway)}`);
  await mustRun(run, 'ip', ['route', 'replace', formatCidr(route.dst), 'via', route.gateway, 'dev', route.dev]);
}

/** Deletes the route to dst via gateway on dev; a route already gone is not an error. */
export async function deleteRoute(route: HostRoute, run: CommandRunner = runCommand): Promise<void> {
  const r = await run('ip', ['route', 'del', formatCidr(route.dst), 'via', route.gateway, 'dev', route.dev]);
  if (r.code !== 0 && !/No such process|not found|Cannot find device/i.test(r.stderr)) {
    throw new WeftError(ErrorCode.HOST, `ip route del ${formatCidr(route.dst)} failed: ${r.stderr.trim()}`);
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
  readonly #desired = new Map<string, HostRoute>();
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(opts: HostGwRoutesOptions) {
    this.#opts = opts;
    this.#run = opts.run ?? runCommand;
  }

  /** Adds or moves the route for a peer subnet. */
  async set(dst: Cidr, gateway: string): Promise<void> {
    const route = { dst, gateway, dev: this.#opts.dev };
    this.#desired.set(formatCidr(dst), route);
    await this.#serial(() => replaceRoute(route, this.#run));
  }

  async delete(dst: Cidr): Promise<void> {
    const route = this.#desired.get(formatCidr(dst));
    if (!route) return;
    this.#desired.delete(formatCidr(dst));
    await this.#serial(() => deleteRoute(route, this.#run));
  }

  routes(): HostRoute[] {
    return [...this.#desired.values()];
  }

  /** Re-adds desired routes missing from the kernel; returns how many it re-added. */
  async reconcile(): Promise<number> {
    let added = 0;
    await this.#serial(async () => {
      const present = new Set((await listRoutes(this.#run, this.#opts.dev)).map((r) => `${formatCidr(r.dst)} ${r.gateway}`));
      for (const r of this.#desired.values()) {
        if (present.has(`${formatCidr(r.dst)} ${r.gateway}`)) continue;
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
