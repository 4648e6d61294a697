// subnet.env, flannel's hand-off to the CNI plugin (flannel-facts §4).
//
// Written atomically (temp file in the same directory, then rename), the
// directory created 0755 and the file 0644, lines in flannel's order, each
// KEY=value with no quoting:
//   FLANNEL_NETWORK=10.244.0.0/16
//   FLANNEL_SUBNET=10.244.3.1/24      (subnet address + 1, subnet prefix)
//   FLANNEL_IPV6_NETWORK=fd00:10:244::/56   (EnableIPv6 only)
//   FLANNEL_IPV6_SUBNET=fd00:10:244:3::1/64 (EnableIPv6 only; subnet address + 1)
//   FLANNEL_MTU=1450
// The two IPv4 lines are left out on an IPv6-only node (EnableIPv4 false),
// as flanneld's WriteSubnetFile does.
//   FLANNEL_IPMASQ=false

import { randomBytes } from 'node:crypto';
import { assertTrusted } from './file-trust';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCode, WeftError } from '../errors';
import { type Cidr, formatCidr, parseCidr } from '../net/cidr';
import { type Cidr6, formatCidr6, parseCidr6 } from '../net/cidr6';
import { formatIPv4 } from '../net/ip';
import { formatIPv6 } from '../net/ip6';

export const DEFAULT_SUBNET_FILE = '/run/flannel/subnet.env';

export interface SubnetEnv {
  /** IPv4 Network and lease subnet (the subnet written as its first host address); absent on an IPv6-only node. */
  readonly network?: Cidr | undefined;
  readonly subnet?: Cidr | undefined;
  readonly mtu: number;
  readonly ipMasq: boolean;
  /** EnableIPv6: the IPv6Network and the IPv6 lease subnet (written as its first host address). */
  readonly ipv6Network?: Cidr6 | undefined;
  readonly ipv6Subnet?: Cidr6 | undefined;
}

/** The file's exact bytes. */
export function formatSubnetEnv(env: SubnetEnv): string {
  let out = '';
  if (env.network && env.subnet) {
    out += `FLANNEL_NETWORK=${formatCidr(env.network)}\n`;
    out += `FLANNEL_SUBNET=${formatIPv4((env.subnet.ip + 1) >>> 0)}/${env.subnet.prefixLen}\n`;
  }
  if (env.ipv6Network && env.ipv6Subnet) {
    out += `FLANNEL_IPV6_NETWORK=${formatCidr6(env.ipv6Network)}\n`;
    out += `FLANNEL_IPV6_SUBNET=${formatIPv6(env.ipv6Subnet.ip + 1n)}/${env.ipv6Subnet.prefixLen}\n`;
  }
  out += `FLANNEL_MTU=${env.mtu}\n`;
  out += `FLANNEL_IPMASQ=${env.ipMasq ? 'true' : 'false'}\n`;
  return out;
}

/** Writes subnet.env atomically: readers see the old file or the new one, never a part. */
export async function writeSubnetEnv(path: string, env: SubnetEnv): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const created = await mkdir(dir, { recursive: true, mode: 0o755 });
    if (created !== undefined) {
      // mkdir's mode is filtered by the umask; every directory we created is made 0755.
      for (let d = dir; d.length >= created.length; d = dirname(d)) await chmod(d, 0o755);
    }
    assertTrusted(dir, 'directory', 'subnet.env directory', 'subnetFile');
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(formatSubnetEnv(env));
      await fh.chmod(0o644); // independent of the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new WeftError(ErrorCode.HOST, `cannot write ${path}: ${(err as Error).message}`, {
      option: 'subnetFile',
      sysCode: (err as NodeJS.ErrnoException).code ?? 'EIO',
      cause: err,
    });
  }
}

export interface SubnetEnvValues {
  /** Every KEY=value line, split at the first `=`. */
  readonly raw: Readonly<Record<string, string>>;
  /** FLANNEL_NETWORK (first entry of a comma list, as readers split on `,`). */
  readonly network?: Cidr;
  /** FLANNEL_SUBNET masked to its network (`10.5.72.1/24` → `10.5.72.0/24`). */
  readonly subnet?: Cidr;
  readonly mtu?: number;
  readonly ipMasq?: boolean;
  /** FLANNEL_IPV6_NETWORK (first entry of a comma list). */
  readonly ipv6Network?: Cidr6;
  /** FLANNEL_IPV6_SUBNET masked to its network. */
  readonly ipv6Subnet?: Cidr6;
}

/** Parses subnet.env text as flanneld and the CNI plugin do. Unknown or malformed lines are skipped. */
export function parseSubnetEnv(text: string): SubnetEnvValues {
  const raw: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    const eq = trimmed.indexOf('=');
    if (trimmed === '' || trimmed.startsWith('#') || eq <= 0) continue;
    raw[trimmed.slice(0, eq).trim()] = trimmed.slice(eq + 1).trim();
  }
  const out: { -readonly [K in keyof SubnetEnvValues]: SubnetEnvValues[K] } = { raw };
  const network = raw.FLANNEL_NETWORK?.split(',')[0];
  const n = network === undefined ? undefined : parseCidr(network);
  if (n) out.network = n;
  const s = raw.FLANNEL_SUBNET === undefined ? undefined : parseCidr(raw.FLANNEL_SUBNET);
  if (s) out.subnet = s;
  const n6 = raw.FLANNEL_IPV6_NETWORK === undefined ? undefined : parseCidr6(raw.FLANNEL_IPV6_NETWORK.split(',')[0]!);
  if (n6) out.ipv6Network = n6;
  const s6 = raw.FLANNEL_IPV6_SUBNET === undefined ? undefined : parseCidr6(raw.FLANNEL_IPV6_SUBNET);
  if (s6) out.ipv6Subnet = s6;
  if (raw.FLANNEL_MTU !== undefined && /^\d+$/.test(raw.FLANNEL_MTU)) out.mtu = Number(raw.FLANNEL_MTU);
  if (raw.FLANNEL_IPMASQ !== undefined) out.ipMasq = raw.FLANNEL_IPMASQ === 'true';
  return out;
}

/** Reads subnet.env; undefined when the file does not exist (first start). */
export async function readSubnetEnv(path: string): Promise<SubnetEnvValues | undefined> {
  try {
    return parseSubnetEnv(await readFile(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new WeftError(ErrorCode.HOST, `cannot read ${path}: ${(err as Error).message}`, {
      option: 'subnetFile',
      sysCode: (err as NodeJS.ErrnoException).code ?? 'EIO',
      cause: err,
    });
  }
}

/** Removes subnet.env (`weft cleanup`); no error when it is already gone. */
export async function removeSubnetEnv(path: string): Promise<void> {
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT')
      throw new WeftError(ErrorCode.HOST, `cannot remove ${path}: ${err.message}`, { sysCode: err.code ?? 'EIO', cause: err });
  });
}
