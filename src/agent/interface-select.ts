// External interface selection, as flanneld does it (flannel-facts §9):
//   1. each --iface value in order: an IP (the interface holding it) or a name;
//   2. then each --iface-regex: matched against IPv4 addresses, then names;
//   3. without either: --iface-can-reach, the interface and source address
//      the kernel routes that IP through (`ip route get`);
//   4. without any: the interface holding --public-ip, else the one of the
//      IPv4 default route.
// The address used is the interface's first IPv4 address that is not
// link-local (a link-local one only when it has nothing else). Public IP
// defaults to that address. Reads /proc and os.networkInterfaces() only:
// nothing here changes the host.
//
// IPv6 (EnableIPv6), as flanneld's ipmatch.LookupExtIface: dual stack picks
// the interface as above and takes its first global IPv6 address (link-local
// fe80::/10 never), which --public-ipv6 overrides; --public-ipv6 must then
// be on the same interface as the IPv4 choice, and without --iface the IPv6
// default route must use the same interface as the IPv4 one. A dual-stack
// --iface-regex matched against addresses needs an interface where it
// matches an IPv4 and an IPv6 address, and uses both. IPv6-only (EnableIPv4
// false): --iface (name or IPv6 address), else each --iface-regex against
// IPv6 addresses, then names, else --iface-can-reach's route, else the
// interface holding --public-ipv6, else the one of the IPv6 default route;
// the IPv4 address and public IP are then 0.0.0.0. A route's source address
// is used for its own family (an IPv6 --iface-can-reach in dual stack gives
// the IPv6 address, the IPv4 one is the interface's first).

import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { type KernelAddr6, kernelIpv4Of, kernelIpv6Of, kernelLinkOf, kernelRouteTo } from '../host/kernel-links';
import { ErrorCode, WeftError } from '../errors';
import { isIPv4 } from '../net/ip';
import { formatIPv6, isIPv6, parseIPv6 } from '../net/ip6';

export interface ExternalInterface {
  /** Interface name, e.g. `eth0`. */
  readonly name: string;
  /** Its IPv4 address weft binds to. */
  readonly address: string;
  /** The address published in the lease (`--public-ip`, else `address`). */
  readonly publicIp: string;
  readonly mtu: number;
  /** With IPv6: the interface's global IPv6 address (bound and sent from). */
  readonly address6?: string;
  /** With IPv6: the IPv6 address published in the lease (`--public-ipv6`, else `address6`). */
  readonly publicIpv6?: string;
}

export interface InterfaceChoice {
  iface?: readonly string[];
  ifaceRegex?: readonly string[];
  /** An IP: the interface the kernel routes it through (`--iface-can-reach`). */
  ifaceCanReach?: string;
  publicIp?: string;
  publicIpv6?: string;
  /** The config's EnableIPv4 (default true) and EnableIPv6 (default false). */
  ipv4?: boolean;
  ipv6?: boolean;
}

/** An IPv6 address (already checked) in Go's printed form. */
const canon6 = (ip: string): string => formatIPv6(parseIPv6(ip)!);

/**
 * Usable IPv6 addresses of an interface in flanneld's order of preference
 * (ip.GetInterfaceIP6Addrs): assigned (permanent) before autoconfigured,
 * non-temporary before temporary, deprecated ones left out; link-local
 * fe80::/10 and ::1 never (a VXLAN peer cannot reach them). The kernel lists
 * the newest address first, so without this a host with privacy addresses
 * would publish its newest temporary one, which expires. Go's printed form.
 */
export function ipv6Of(name: string): string[] {
  const addrs: readonly KernelAddr6[] =
    kernelIpv6Of(name) ??
    (networkInterfaces()[name] ?? [])
      .filter((a) => a.family === 'IPv6')
      .map((a) => ({ address: a.address, scope: 'global', dynamic: false, temporary: false, deprecated: false }));
  const out: { address: string; rank: number }[] = [];
  for (const a of addrs) {
    const v = parseIPv6(a.address);
    if (a.deprecated || v === undefined || v >> 118n === 0x3fan || v === 1n) continue; // deprecated, fe80::/10, ::1
    out.push({ address: formatIPv6(v), rank: (a.dynamic ? 2 : 0) + (a.temporary ? 1 : 0) });
  }
  return out.sort((x, y) => x.rank - y.rank).map((a) => a.address); // stable: the kernel's order within a rank
}

function interfaceOwning6(ip: string): string | undefined {
  const want = parseIPv6(ip);
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.family === 'IPv6' && parseIPv6(a.address) === want)) return name;
  }
  return undefined;
}

/** The interface of the IPv6 default route with the lowest metric (from /proc/net/ipv6_route). */
export function defaultRoute6Interface(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/ipv6_route', 'utf8');
  } catch {
    return undefined;
  }
  let best: { name: string; metric: number } | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[0] !== '0'.repeat(32) || f[1] !== '00' || f[9] === 'lo') continue;
    const metric = parseInt(f[5]!, 16);
    if (!best || metric < best.metric) best = { name: f[9]!, metric };
  }
  return best?.name;
}

function usage(option: string, message: string): WeftError {
  return new WeftError(ErrorCode.INVALID_OPTION, message, { option });
}

function ipv4Of(name: string): string[] {
  const addrs = networkInterfaces()[name] ?? [];
  let v4 = addrs.filter((a) => a.family === 'IPv4').map((a) => a.address);
  if (v4.length === 0) v4 = kernelIpv4Of(name); // not running yet: Node omits it
  // Prefer global over link-local (169.254/16), as flannel prefers global scope.
  return [...v4.filter((a) => !a.startsWith('169.254.')), ...v4.filter((a) => a.startsWith('169.254.'))];
}

function interfaceOwning(ip: string): string | undefined {
  for (const [name, addrs] of Object.entries(networkInterfaces())) {
    if (addrs?.some((a) => a.family === 'IPv4' && a.address === ip)) return name;
  }
  return kernelLinkOf(ip)?.name; // a link not running yet is missing from Node's list
}

function mtuOf(name: string): number {
  try {
    return Number(readFileSync(`/sys/class/net/${name}/mtu`, 'utf8').trim());
  } catch {
    return 1500;
  }
}

function exists(name: string): boolean {
  try {
    readFileSync(`/sys/class/net/${name}/ifindex`);
    return true;
  } catch {
    return false;
  }
}

/** The interface of the IPv4 default route with the lowest metric (from /proc/net/route). */
export function defaultRouteInterface(): string | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/route', 'utf8');
  } catch {
    return undefined;
  }
  let best: { name: string; metric: number } | undefined;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== '00000000' || f[7] !== '00000000') continue;
    const metric = Number(f[6]);
    if (!best || metric < best.metric) best = { name: f[0]!, metric };
  }
  return best?.name;
}

function finish(name: string, address: string | undefined, choice: InterfaceChoice, option: string): ExternalInterface {
  const addr = address ?? ipv4Of(name)[0];
  if (!addr) throw usage(option, `interface ${name} has no IPv4 address`);
  return Object.freeze({ name, address: addr, publicIp: choice.publicIp ?? addr, mtu: mtuOf(name) });
}

/** Chooses the external interface; a WeftError(INVALID_OPTION) naming the flag when none fits. */
export function selectInterface(choice: InterfaceChoice): ExternalInterface {
  if (choice.publicIpv6 !== undefined && !isIPv6(choice.publicIpv6)) {
    throw usage('public-ipv6', `--public-ipv6 must be an IPv6 address, got ${JSON.stringify(choice.publicIpv6)}`);
  }
  const ipv4 = choice.ipv4 ?? true;
  if (!ipv4) return selectInterface6(choice);
  const chosen = selectInterface4(choice);
  if (!choice.ipv6) return chosen;
  let address6: string | undefined;
  if (choice.publicIpv6 !== undefined) {
    const owner = interfaceOwning6(choice.publicIpv6);
    if (owner !== undefined && owner !== chosen.name) {
      throw usage('public-ipv6', `v6 interface ${owner} must be the same with v4 interface ${chosen.name}`);
    }
    if (owner !== undefined) address6 = canon6(choice.publicIpv6);
  }
  address6 ??= chosen.address6; // the IPv6 address an --iface-regex or --iface-can-reach gave
  if (!choice.iface?.length && !choice.ifaceRegex?.length && !choice.ifaceCanReach && choice.publicIp === undefined) {
    const v6dev = defaultRoute6Interface();
    if (v6dev !== undefined && v6dev !== chosen.name) {
      throw usage('iface', `v6 default route interface ${v6dev} must be the same with v4 default route interface ${chosen.name}`);
    }
  }
  address6 ??= ipv6Of(chosen.name)[0];
  if (!address6) throw usage('iface', `failed to find IPv6 address for interface ${chosen.name}`);
  const publicIpv6 = choice.publicIpv6 !== undefined ? canon6(choice.publicIpv6) : address6;
  return Object.freeze({ ...chosen, address6, publicIpv6 });
}

/** IPv6-only: --iface (name or IPv6 address), else --iface-regex, else --iface-can-reach, else --public-ipv6's interface, else the IPv6 default route's. */
function selectInterface6(choice: InterfaceChoice): ExternalInterface {
  let name: string | undefined;
  let address6: string | undefined;
  for (const value of choice.iface ?? []) {
    if (isIPv6(value)) {
      name = interfaceOwning6(value);
      if (name) address6 = canon6(value);
    } else if (exists(value)) name = value;
    if (name) break;
  }
  if (!name) {
    const all = Object.keys(networkInterfaces());
    for (const re of compileRegexes(choice)) {
      for (const n of all) {
        address6 = ipv6Of(n).find((a) => re.test(a));
        if (address6) {
          name = n;
          break;
        }
      }
      name ??= all.find((n) => re.test(n) && ipv6Of(n).length > 0);
      if (name) break;
    }
  }
  if (!name && (choice.iface?.length || choice.ifaceRegex?.length)) throw noneFound(choice);
  if (!name && choice.ifaceCanReach !== undefined) {
    const r = routeTo(choice.ifaceCanReach);
    name = r.dev;
    address6 = r.src6;
  }
  if (!name && choice.publicIpv6 !== undefined) {
    name = interfaceOwning6(choice.publicIpv6);
    if (name) address6 = canon6(choice.publicIpv6);
  }
  name ??= defaultRoute6Interface();
  if (!name) throw usage('iface', 'failed to get default v6 interface: give --iface or --public-ipv6 (an address of this host)');
  address6 ??= ipv6Of(name)[0];
  if (!address6) throw usage('iface', `failed to find IPv6 address for interface ${name}`);
  const publicIpv6 = choice.publicIpv6 !== undefined ? canon6(choice.publicIpv6) : address6;
  return Object.freeze({ name, address: '0.0.0.0', publicIp: '0.0.0.0', mtu: mtuOf(name), address6, publicIpv6 });
}

/**
 * --iface-can-reach: the link of the kernel's route to the IP and its source
 * address, as `src4` or `src6` by family; an error naming the flag without one.
 */
function routeTo(ip: string): { dev: string; src4?: string; src6?: string } {
  if (!isIPv4(ip) && !isIPv6(ip)) throw usage('iface-can-reach', `--iface-can-reach must be an IP address, got ${JSON.stringify(ip)}`);
  const r = kernelRouteTo(ip);
  if (!r) throw usage('iface-can-reach', `--iface-can-reach ${ip}: this host has no route to it`);
  if (r.src === undefined) return { dev: r.dev };
  return isIPv6(r.src) ? { dev: r.dev, src6: canon6(r.src) } : { dev: r.dev, src4: r.src };
}

function compileRegexes(choice: InterfaceChoice): RegExp[] {
  return (choice.ifaceRegex ?? []).map((r) => {
    try {
      return new RegExp(r);
    } catch (err) {
      throw usage('iface-regex', `--iface-regex ${JSON.stringify(r)} is not a valid regular expression: ${(err as Error).message}`);
    }
  });
}

function noneFound(choice: InterfaceChoice): WeftError {
  const what = [...(choice.iface ?? []).map((i) => `--iface ${i}`), ...(choice.ifaceRegex ?? []).map((r) => `--iface-regex ${r}`)].join(
    ', ',
  );
  return usage(
    choice.iface?.length ? 'iface' : 'iface-regex',
    `no usable interface found for ${what} (no such interface or address in this network namespace)`,
  );
}

function selectInterface4(choice: InterfaceChoice): ExternalInterface {
  if (choice.publicIp !== undefined && !isIPv4(choice.publicIp)) {
    throw usage('public-ip', `--public-ip must be an IPv4 address, got ${JSON.stringify(choice.publicIp)}`);
  }
  const ifaces = choice.iface ?? [];
  for (const value of ifaces) {
    if (isIPv4(value)) {
      const name = interfaceOwning(value);
      if (name) return finish(name, value, choice, 'iface');
    } else if (exists(value)) {
      return finish(value, undefined, choice, 'iface');
    }
  }
  const regexes = compileRegexes(choice);
  const all = Object.keys(networkInterfaces());
  for (const re of regexes) {
    for (const name of all) {
      const ip = ipv4Of(name).find((a) => re.test(a));
      if (!ip) continue;
      if (!choice.ipv6) return finish(name, ip, choice, 'iface-regex');
      // Dual stack: the same interface must match with an IPv6 address too.
      const ip6 = ipv6Of(name).find((a) => re.test(a));
      if (ip6) return Object.freeze({ ...finish(name, ip, choice, 'iface-regex'), address6: ip6 });
    }
    for (const name of all) if (re.test(name) && ipv4Of(name).length > 0) return finish(name, undefined, choice, 'iface-regex');
  }
  if (ifaces.length > 0 || regexes.length > 0) throw noneFound(choice);
  if (choice.ifaceCanReach !== undefined) {
    const r = routeTo(choice.ifaceCanReach);
    const chosen = finish(r.dev, r.src4, choice, 'iface-can-reach');
    return choice.ipv6 && r.src6 ? Object.freeze({ ...chosen, address6: r.src6 }) : chosen;
  }
  if (choice.publicIp !== undefined) {
    const name = interfaceOwning(choice.publicIp);
    if (name) return finish(name, choice.publicIp, choice, 'public-ip');
  }
  const name = defaultRouteInterface();
  if (!name) {
    throw usage('iface', 'no default route to choose the external interface from: give --iface or --public-ip (an address of this host)');
  }
  return finish(name, undefined, choice, 'iface');
}
