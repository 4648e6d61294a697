// `weft bench --peers`: the userspace tunnels a user would compare weft
// against, from Debian's packages, each set up the way its own documentation
// says, as extra paths of the bench topology (bench/lab.ts):
//
//   path          underlay        overlay (A -> B)            what carries it
//   fastd         198.18.4.0/24   10.204.1.5 -> 10.204.2.5    fastd, tun mode, method "null"
//   tinc          198.18.5.0/24   10.205.1.5 -> 10.205.2.5    tinc 1.0, router mode, Cipher = none, Digest = none
//   wireguard-go  198.18.6.0/24   10.206.1.5 -> 10.206.2.5    wireguard-go, configured with wg
//   nebula        198.18.7.0/24   10.207.1.5 -> 10.207.2.5    nebula, static_host_map, firewall allows any
//
// Both ends of each tunnel run inside the two bench namespaces (never in the
// root namespace), through the layout's CPU wrapper; their configuration and
// keys live in a temporary directory removed by stop(). Flannel's own udp
// proxy is not packaged by Debian, so it is not among them.

import { execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Netns } from '../src/lab/netns';
import type { Path } from './measure';

export type PeerName = 'fastd' | 'tinc' | 'wireguard-go' | 'nebula';

export interface PeerSpec {
  name: PeerName;
  label: string;
  /** Debian packages and the programs of each that the tunnel needs. */
  needs: [pkg: string, program: string][];
  /** Second octet of the overlay (10.<net>) and third of the underlay (198.18.<ul>). */
  net: number;
  ul: number;
  path: Path;
}

const spec = (name: PeerName, label: string, needs: [string, string][], net: number, ul: number): PeerSpec => ({
  name,
  label,
  needs,
  net,
  ul,
  path: { src: `10.${net}.1.5`, dst: `10.${net}.2.5` },
});

export const kPeers: readonly PeerSpec[] = [
  spec('fastd', 'fastd (null method)', [['fastd', 'fastd']], 204, 4),
  spec('tinc', 'tinc 1.0 (no cipher)', [['tinc', 'tincd']], 205, 5),
  spec(
    'wireguard-go',
    'wireguard-go',
    [
      ['wireguard-go', 'wireguard-go'],
      ['wireguard-tools', 'wg'],
    ],
    206,
    6,
  ),
  spec(
    'nebula',
    'nebula',
    [
      ['nebula', 'nebula'],
      ['nebula', 'nebula-cert'],
    ],
    207,
    7,
  ),
];

/** Tunnels a user might expect here that the bench cannot set up, and why. */
export const kPeersSkipped = [{ name: 'flannel-udp', label: "flannel's udp proxy", status: 'not in Debian: skipped' }];

/** Whether `program` is on the PATH (plus the sbin directories, where tincd lives). */
function onPath(program: string): boolean {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.some((d) => d !== '' && existsSync(join(d, program)));
}

/** "not installed: <package>" for the first missing program, or undefined when all are there. */
export function peerMissing(p: PeerSpec): string | undefined {
  const missing = [...new Set(p.needs.filter(([, prog]) => !onPath(prog)).map(([pkg]) => pkg))];
  return missing.length > 0 ? `not installed: ${missing.join(', ')}` : undefined;
}

/** Runs `cmd args` on host `i` (0 = A, 1 = B) through the layout's CPU wrapper. */
export type Wrap = (i: number, cmd: string, args: string[]) => [string, string[]];

/** A running tunnel: its daemons (one per host) and how to stop them. */
export interface PeerTunnel {
  spec: PeerSpec;
  pids(): number[];
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, ms: number, log: () => string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what} after ${ms / 1000} s${tail(log())}`);
    await sleep(100);
  }
}

function tail(s: string): string {
  const t = s.trim().split('\n').slice(-6).join('\n');
  return t ? `; its output:\n${t}` : '';
}

function hasLink(ns: Netns, dev: string): boolean {
  try {
    ns.ip('link', 'show', 'dev', dev);
    return true;
  } catch {
    return false;
  }
}

function hasAddr(ns: Netns, addr: string): boolean {
  try {
    return ns.ip('-4', '-o', 'addr', 'show').includes(` ${addr}/`);
  } catch {
    return false;
  }
}

/** One daemon per host, with its stdout/stderr kept for error messages. */
class Daemons {
  readonly children: ChildProcess[] = [];
  /** Run after the daemons are stopped (files a daemon killed by SIGKILL leaves behind). */
  readonly cleanups: (() => void)[] = [];
  readonly #out: string[] = [];

  spawn(ns: Netns, [cmd, args]: [string, string[]], env?: NodeJS.ProcessEnv): ChildProcess {
    const child = ns.spawn(cmd, args, env ? { env: { ...process.env, ...env } } : {});
    const k = this.children.length;
    this.#out[k] = '';
    const keep = (d: Buffer): void => {
      this.#out[k] = (this.#out[k]! + d.toString()).slice(-4000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.children.push(child);
    return child;
  }

  log(k: number): string {
    const c = this.children[k];
    const exited = c && (c.exitCode !== null || c.signalCode !== null) ? ` (exited: ${c.exitCode ?? c.signalCode})\n` : '';
    return exited + (this.#out[k] ?? '');
  }

  alive(k: number): boolean {
    const c = this.children[k];
    return !!c && c.exitCode === null && c.signalCode === null;
  }

  pids(): number[] {
    return this.children.map((c) => c.pid!).filter((p) => p !== undefined);
  }

  /** SIGTERM each by its PID, SIGKILL after 3 s. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGTERM');
        const t = setTimeout(() => c.kill('SIGKILL'), 3000);
        await gone;
        clearTimeout(t);
      }),
    );
    for (const f of this.cleanups) f();
  }
}

/** Host i's own and other's underlay address of peer `p`. */
const ul = (p: PeerSpec, i: number): string => `198.18.${p.ul}.${i + 1}`;
const ov = (p: PeerSpec, i: number): string => `10.${p.net}.${i + 1}.5`;

type Starter = (p: PeerSpec, hosts: [Netns, Netns], dir: string, wrap: Wrap, d: Daemons) => Promise<void>;

/** fastd: tun mode, `method "null"`, keys from `fastd --generate-key`, one peer block each. */
const startFastd: Starter = async (p, hosts, dir, wrap, d) => {
  const keys = [0, 1].map(() => {
    const out = execFileSync('fastd', ['--generate-key'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const secret = /Secret: ([0-9a-f]{64})/.exec(out)?.[1];
    const pub = /Public: ([0-9a-f]{64})/.exec(out)?.[1];
    if (!secret || !pub) throw new Error(`fastd --generate-key printed no key pair:\n${out}`);
    return { secret, pub };
  });
  const port = 10004;
  hosts.forEach((ns, i) => {
    const j = 1 - i;
    const conf = join(dir, `fastd-${i}.conf`);
    writeFileSync(
      conf,
      [
        'log level warn;',
        'mode tun;',
        'interface "fastd0";',
        'method "null";',
        `bind ${ul(p, i)}:${port};`,
        `secret "${keys[i]!.secret}";`,
        'mtu 1426;',
        `peer "host${j}" {`,
        `  key "${keys[j]!.pub}";`,
        `  remote ${ul(p, j)}:${port};`,
        '}',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    d.spawn(ns, wrap(i, 'fastd', ['--config', conf]));
  });
  for (const [i, ns] of hosts.entries()) {
    await waitFor(
      'fastd made no interface fastd0',
      () => !d.alive(i) || hasLink(ns, 'fastd0'),
      10_000,
      () => d.log(i),
    );
    if (!d.alive(i)) throw new Error(`fastd exited${tail(d.log(i))}`);
    ns.ip('addr', 'add', `${ov(p, i)}/16`, 'dev', 'fastd0');
    ns.ip('link', 'set', 'fastd0', 'up');
  }
};

/**
 * tinc 1.0: a net directory per host with tinc.conf, hosts/<name> files
 * (Address, Subnet, Cipher = none, Digest = none) holding the RSA public key
 * `tincd -K` appends, exchanged between the hosts, and a tinc-up script.
 */
const startTinc: Starter = async (p, hosts, dir, wrap, d) => {
  const names = ['hosta', 'hostb'];
  const nets = hosts.map((_, i) => join(dir, `tinc-${i}`));
  nets.forEach((net, i) => {
    mkdirSync(join(net, 'hosts'), { recursive: true });
    writeFileSync(
      join(net, 'tinc.conf'),
      [
        `Name = ${names[i]}`,
        'Mode = router',
        'Interface = tinc0',
        'AddressFamily = ipv4',
        `BindToAddress = ${ul(p, i)}`,
        ...(i === 0 ? [`ConnectTo = ${names[1]}`] : []),
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(net, 'hosts', names[i]!),
      [`Address = ${ul(p, i)}`, 'Port = 655', `Subnet = 10.${p.net}.${i + 1}.0/24`, 'Cipher = none', 'Digest = none', ''].join('\n'),
    );
    const up = join(net, 'tinc-up');
    writeFileSync(up, `#!/bin/sh\nip addr add ${ov(p, i)}/16 dev "$INTERFACE"\nip link set "$INTERFACE" up\n`);
    chmodSync(up, 0o755);
    execFileSync('tincd', ['-c', net, '-K2048'], { stdio: ['ignore', 'pipe', 'pipe'] });
  });
  // Each host knows the other's host file, public key included.
  nets.forEach((net, i) => {
    const other = names[1 - i]!;
    writeFileSync(join(net, 'hosts', other), readFileSync(join(nets[1 - i]!, 'hosts', other)));
  });
  hosts.forEach((ns, i) => d.spawn(ns, wrap(i, 'tincd', ['-c', nets[i]!, '-D', `--pidfile=${join(nets[i]!, 'pid')}`])));
  for (const [i, ns] of hosts.entries()) {
    await waitFor(
      'tinc-up did not address tinc0',
      () => !d.alive(i) || hasAddr(ns, ov(p, i)),
      10_000,
      () => d.log(i),
    );
    if (!d.alive(i)) throw new Error(`tincd exited${tail(d.log(i))}`);
  }
};

/**
 * wireguard-go: `WG_PROCESS_FOREGROUND=1 wireguard-go <if>` makes the TUN in
 * the namespace and a UAPI socket in /var/run/wireguard, which is shared by
 * every namespace — hence interface names unique to this run; then `wg set`
 * with keys from `wg genkey` / `wg pubkey`, and `ip` for the address.
 */
const startWireguard: Starter = async (p, hosts, dir, wrap, d) => {
  const tag = randomBytes(3).toString('hex');
  const ifs = [`wg${tag}a`, `wg${tag}b`];
  const keys = [0, 1].map((i) => {
    const priv = execFileSync('wg', ['genkey'], { encoding: 'utf8' }).trim();
    const pub = execFileSync('wg', ['pubkey'], { encoding: 'utf8', input: priv + '\n' }).trim();
    const file = join(dir, `wg-${i}.key`);
    writeFileSync(file, priv + '\n', { mode: 0o600 });
    return { file, pub };
  });
  const port = 51820;
  for (const name of ifs) d.cleanups.push(() => rmSync(`/var/run/wireguard/${name}.sock`, { force: true }));
  hosts.forEach((ns, i) => d.spawn(ns, wrap(i, 'wireguard-go', [ifs[i]!]), { WG_PROCESS_FOREGROUND: '1' }));
  for (const [i, ns] of hosts.entries()) {
    const sock = `/var/run/wireguard/${ifs[i]}.sock`;
    await waitFor(
      `wireguard-go made no ${sock}`,
      () => !d.alive(i) || (existsSync(sock) && hasLink(ns, ifs[i]!)),
      10_000,
      () => d.log(i),
    );
    if (!d.alive(i)) throw new Error(`wireguard-go exited${tail(d.log(i))}`);
    const j = 1 - i;
    ns.exec(
      'wg',
      'set',
      ifs[i]!,
      'listen-port',
      String(port),
      'private-key',
      keys[i]!.file,
      'peer',
      keys[j]!.pub,
      'endpoint',
      `${ul(p, j)}:${port}`,
      'allowed-ips',
      `10.${p.net}.${j + 1}.0/24`,
    );
    ns.ip('addr', 'add', `${ov(p, i)}/16`, 'dev', ifs[i]!);
    ns.ip('link', 'set', ifs[i]!, 'up');
  }
};

/**
 * nebula: a CA and one certificate per host from nebula-cert (the overlay
 * address is in the certificate), static_host_map to the other host's
 * underlay address instead of a lighthouse, firewall allowing any.
 */
const startNebula: Starter = async (p, hosts, dir, wrap, d) => {
  const ca = { crt: join(dir, 'nebula-ca.crt'), key: join(dir, 'nebula-ca.key') };
  execFileSync('nebula-cert', ['ca', '-name', 'weft bench', '-out-crt', ca.crt, '-out-key', ca.key], { stdio: 'pipe' });
  const port = 4242;
  hosts.forEach((ns, i) => {
    const j = 1 - i;
    const crt = join(dir, `nebula-${i}.crt`);
    const key = join(dir, `nebula-${i}.key`);
    execFileSync(
      'nebula-cert',
      ['sign', '-ca-crt', ca.crt, '-ca-key', ca.key, '-name', `host${i}`, '-ip', `${ov(p, i)}/16`, '-out-crt', crt, '-out-key', key],
      { stdio: 'pipe' },
    );
    const any = [{ port: 'any', proto: 'any', host: 'any' }];
    const config = {
      pki: { ca: ca.crt, cert: crt, key },
      static_host_map: { [ov(p, j)]: [`${ul(p, j)}:${port}`] },
      lighthouse: { am_lighthouse: false, interval: 60, hosts: [] },
      listen: { host: ul(p, i), port },
      punchy: { punch: false },
      tun: { disabled: false, dev: 'nebula0', drop_local_broadcast: false, drop_multicast: false, tx_queue: 500, mtu: 1300 },
      logging: { level: 'warning', format: 'text' },
      firewall: { outbound: any, inbound: any },
    };
    // JSON is YAML: nebula reads it as its config.
    const file = join(dir, `nebula-${i}.yml`);
    writeFileSync(file, JSON.stringify(config, null, 2) + '\n');
    d.spawn(ns, wrap(i, 'nebula', ['-config', file]));
  });
  for (const [i, ns] of hosts.entries()) {
    await waitFor(
      'nebula did not address nebula0',
      () => !d.alive(i) || hasAddr(ns, ov(p, i)),
      10_000,
      () => d.log(i),
    );
    if (!d.alive(i)) throw new Error(`nebula exited${tail(d.log(i))}`);
  }
};

const kStarters: Record<PeerName, Starter> = {
  fastd: startFastd,
  tinc: startTinc,
  'wireguard-go': startWireguard,
  nebula: startNebula,
};

/**
 * Sets up tunnel `p` between `hosts` (each with its underlay veth already
 * addressed 198.18.<ul>.1/.2) and waits until A's end pings B's through it.
 * On failure everything started is stopped before the error is thrown.
 */
export async function startPeer(p: PeerSpec, hosts: [Netns, Netns], wrap: Wrap): Promise<PeerTunnel> {
  const dir = mkdtempSync(join(tmpdir(), `weft-bench-${p.name}-`));
  const d = new Daemons();
  const stop = async (): Promise<void> => {
    await d.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await kStarters[p.name](p, hosts, dir, wrap, d);
    const pings = (): boolean => {
      try {
        hosts[0].exec('ping', '-c', '1', '-W', '1', '-I', p.path.src, p.path.dst);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      `${p.label}: no ping reply from ${p.path.dst}`,
      () => pings() || !d.alive(0) || !d.alive(1),
      30_000,
      () => [0, 1].map((k) => d.log(k)).join('\n'),
    );
    if (!d.alive(0) || !d.alive(1)) throw new Error(`${p.label} exited${tail(d.log(d.alive(0) ? 1 : 0))}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { spec: p, pids: () => d.pids(), stop };
}
