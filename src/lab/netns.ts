// Hosts in network namespaces, for tests, `weft demo` and `weft bench`.
//
// Every namespace made here has a name unique to this process and run, is
// recorded, and is deleted by `destroy()`, by `destroyAll()` and, as a last
// resort, on process exit. Nothing is ever configured in the root namespace:
// veth pairs are created inside the first namespace and moved into the second.

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

const live = new Set<string>();
let counter = 0;

process.on('exit', () => {
  for (const name of live) {
    try {
      execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
    } catch {
      // best effort at exit
    }
  }
});

export function sh(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...opts });
}

/** Why end-to-end tests cannot run here, or undefined when they can. */
export function e2eUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  try {
    sh('ip', ['netns', 'list']);
  } catch {
    return 'iproute2 (`ip netns`) is not available';
  }
  return undefined;
}

export class Netns {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();

  /** `prefix` names the owner (default `weft-t<pid>-<n>`); a random suffix keeps names unique per run. */
  constructor(label: string, opts: { prefix?: string } = {}) {
    const prefix = opts.prefix ?? `weft-t${process.pid}-${++counter}`;
    this.name = `${prefix}-${label}-${randomBytes(2).toString('hex')}`.slice(0, 60);
    sh('ip', ['netns', 'add', this.name]);
    live.add(this.name);
    this.ip('link', 'set', 'lo', 'up');
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(cmd: string, ...args: string[]): string {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args]);
  }

  ip(...args: string[]): string {
    return this.exec('ip', ...args);
  }

  /** Starts a long-running process inside the namespace; it is killed by destroy(). */
  spawn(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { stdio: 'pipe', ...opts });
    this.#children.add(child);
    child.on('exit', () => this.#children.delete(child));
    return child;
  }

  /**
   * Leaves the namespace and its processes running after this process exits
   * (`weft demo --keep`): they are no longer torn down by destroy-at-exit.
   */
  keep(): void {
    live.delete(this.name);
    for (const child of this.#children) child.unref();
    this.#children.clear();
  }

  async destroy(): Promise<void> {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    }
    if (live.delete(this.name)) {
      try {
        sh('ip', ['netns', 'delete', this.name]);
      } catch {
        // already gone
      }
    }
  }
}

/**
 * Joins `a` and `b` with a veth pair named `name` on both sides, addressed
 * `<prefix>.1/24` and `<prefix>.2/24`. Created inside `a`, then one end is
 * moved to `b`: nothing touches the root namespace.
 */
export function vethPair(a: Netns, b: Netns, name: string, prefix: string, opts: { mtu?: number } = {}): [string, string] {
  const mtu = String(opts.mtu ?? 1500);
  const tmp = `${name}-p`.slice(0, 15);
  a.ip('link', 'add', name, 'mtu', mtu, 'type', 'veth', 'peer', 'name', tmp, 'mtu', mtu);
  a.ip('link', 'set', tmp, 'netns', b.name);
  b.ip('link', 'set', tmp, 'name', name);
  const addrs: [string, string] = [`${prefix}.1`, `${prefix}.2`];
  [a, b].forEach((h, i) => {
    h.ip('addr', 'add', `${addrs[i]}/24`, 'dev', name);
    h.ip('link', 'set', name, 'up');
  });
  return addrs;
}

/** Two hosts joined by a veth `ul` on 198.18.0.0/24 (RFC 2544), as design §8 asks. */
export function underlay(hosts: Netns[], opts: { mtu?: number } = {}): string[] {
  if (hosts.length !== 2) throw new Error('underlay() joins two hosts; use underlaySwitch() for more');
  return vethPair(hosts[0]!, hosts[1]!, 'ul', '198.18.0', opts);
}

/** N hosts on one L2 segment: a bridge inside its own namespace, one veth per host. */
export function underlaySwitch(sw: Netns, hosts: Netns[], opts: { mtu?: number } = {}): string[] {
  const mtu = String(opts.mtu ?? 1500);
  sw.ip('link', 'add', 'br0', 'type', 'bridge');
  sw.ip('link', 'set', 'br0', 'up');
  return hosts.map((h, i) => {
    const port = `p${i + 1}`;
    sw.ip('link', 'add', port, 'mtu', mtu, 'type', 'veth', 'peer', 'name', 'ul', 'mtu', mtu);
    sw.ip('link', 'set', 'ul', 'netns', h.name);
    sw.ip('link', 'set', port, 'master', 'br0');
    sw.ip('link', 'set', port, 'up');
    const addr = `198.18.0.${i + 1}`;
    h.ip('addr', 'add', `${addr}/24`, 'dev', 'ul');
    h.ip('link', 'set', 'ul', 'up');
    return addr;
  });
}

export async function destroyAll(list: Netns[]): Promise<void> {
  await Promise.all(list.map((n) => n.destroy()));
}
