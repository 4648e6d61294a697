// External interface selection, as flanneld does it (flannel-facts §9):
//   1. each --iface value in order: an IP (the interface holding it) or a name;
//   2. then each --iface-regex: matched against IPv4 addresses, then names;
//   3. without either: the interface holding --public-ip, else the one of the
//      IPv4 default route.
// The address used is the interface's first IPv4 address that is not
// link-local (a link-local one only when it has nothing else). Public IP
// defaults to that address. Reads /proc and os.networkInterfaces() only:
// nothing here changes the host.

import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { kernelIpv4Of, kernelLinkOf } from '../host/kernel-links';
import { ErrorCode, WeftError } from '../errors';
import { isIPv4 } from '../net/ip';

export interface ExternalInterface {
  /** Interface name, e.g. `eth0`. */
  readonly name: string;
  /** Its IPv4 address weft binds to. */
  readonly address: string;
  /** The address published in the lease (`--public-ip`, else `address`). */
  readonly publicIp: string;
  readonly mtu: number;
}

export interface InterfaceChoice {
  iface?: readonly string[];
  ifaceRegex?: readonly string[];
  publicIp?: string;
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
  const regexes = (choice.ifaceRegex ?? []).map((r) => {
    try {
      return new RegExp(r);
    } catch (err) {
      throw usage('iface-regex', `--iface-regex ${JSON.stringify(r)} is not a valid regular expression: ${(err as Error).message}`);
    }
  });
  if (regexes.length > 0) {
    const all = Object.keys(networkInterfaces());
    for (const re of regexes) {
      for (const name of all) {
        const ip = ipv4Of(name).find((a) => re.test(a));
        if (ip) return finish(name, ip, choice, 'iface-regex');
      }
      for (const name of all) if (re.test(name) && ipv4Of(name).length > 0) return finish(name, undefined, choice, 'iface-regex');
    }
  }
  if (ifaces.length > 0 || regexes.length > 0) {
    const what = [...ifaces.map((i) => `--iface ${i}`), ...(choice.ifaceRegex ?? []).map((r) => `--iface-regex ${r}`)].join(', ');
    throw usage(
      ifaces.length > 0 ? 'iface' : 'iface-regex',
      `no usable interface found for ${what} (no such interface or address in this network namespace)`,
    );
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
