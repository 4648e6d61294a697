// Addresses and MTUs straight from the kernel (`ip -j addr show`), for links
// os.networkInterfaces() leaves out: libuv lists only interfaces that are up
// *and* running, so an underlay veth whose peer is not up yet (a node still
// booting) has no entry there although its address is already assigned.

import { execFileSync } from 'node:child_process';

export interface KernelLink {
  readonly name: string;
  readonly mtu: number;
}

interface IpAddrJson {
  ifname?: string;
  mtu?: number;
  addr_info?: {
    family?: string;
    local?: string;
    scope?: string;
    dynamic?: boolean;
    temporary?: boolean;
    deprecated?: boolean;
  }[];
}

/** An IPv6 address of a link with the flags that rank it (`ip -j -6 addr show`). */
export interface KernelAddr6 {
  readonly address: string;
  readonly scope: string;
  /** Not IFA_F_PERMANENT: autoconfigured (SLAAC, DHCPv6) rather than assigned. */
  readonly dynamic: boolean;
  /** A privacy (RFC 8981) address, regenerated from time to time. */
  readonly temporary: boolean;
  /** Its preferred lifetime is over. */
  readonly deprecated: boolean;
}

/** `ip -j <args>` parsed; undefined when `ip` cannot run or fails (no such link, no route). */
function ipJson<T>(args: string[]): T[] | undefined {
  try {
    return JSON.parse(execFileSync('ip', ['-j', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as T[];
  } catch {
    return undefined;
  }
}

/** The link holding IPv4 address `ip` in this namespace, or undefined (also when `ip` cannot run). */
export function kernelLinkOf(ip: string, family: 4 | 6 = 4): KernelLink | undefined {
  // IPv6: `ip` prints RFC 5952 text, as `ip` is given here (callers normalise).
  const kind = family === 4 ? 'inet' : 'inet6';
  const link = ipJson<IpAddrJson>([`-${family}`, 'addr', 'show'])?.find((l) =>
    l.addr_info?.some((a) => a.family === kind && a.local === ip),
  );
  return link?.ifname && typeof link.mtu === 'number' ? { name: link.ifname, mtu: link.mtu } : undefined;
}

/** The IPv4 addresses of link `name` as the kernel has them ([] when none or `ip` cannot run). */
export function kernelIpv4Of(name: string): string[] {
  const links = ipJson<IpAddrJson>(['-4', 'addr', 'show', 'dev', name]) ?? [];
  return links.flatMap((l) => (l.addr_info ?? []).filter((a) => a.family === 'inet' && a.local).map((a) => a.local!));
}

/** The link and source address the kernel routes `ip` through (`ip route get`), or undefined when it has no route. */
export function kernelRouteTo(ip: string): { dev: string; src?: string } | undefined {
  const [r] = ipJson<{ dev?: string; prefsrc?: string }>(['route', 'get', ip]) ?? [];
  return r?.dev ? { dev: r.dev, ...(r.prefsrc ? { src: r.prefsrc } : {}) } : undefined;
}

/** The IPv6 addresses of link `name` with their flags, in the kernel's order; undefined when `ip` cannot run. */
export function kernelIpv6Of(name: string): KernelAddr6[] | undefined {
  return ipJson<IpAddrJson>(['-6', 'addr', 'show', 'dev', name])?.flatMap((l) =>
    (l.addr_info ?? [])
      .filter((a) => a.family === 'inet6' && a.local)
      .map((a) => ({
        address: a.local!,
        scope: a.scope ?? 'global',
        dynamic: a.dynamic === true,
        temporary: a.temporary === true,
        deprecated: a.deprecated === true,
      })),
  );
}
