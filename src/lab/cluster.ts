// A cluster of `weft run` nodes for agent tests: N host namespaces on one
// underlay switch (198.18.0.0/24), each running a real `weft run` process,
// with a "pod" address (<lease>.5/32 on lo) added once its lease is known.

import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Netns, underlaySwitch } from './netns';
import { WeftAgent, tableOf, tempDir, until, weftCli } from './agent-process';
import { parseSubnetEnv } from '../host/subnet-env';
import { formatCidr } from '../net/cidr';
import { formatIPv4 } from '../net/ip';

export interface Node {
  ns: Netns;
  ip: string;
  dir: string;
  subnetFile: string;
  agent?: WeftAgent;
  /** e.g. 10.244.7.0/24, once ready. */
  subnet?: string;
  /** e.g. 10.244.7.5. */
  pod?: string;
}

export class Cluster {
  readonly sw: Netns;
  readonly nodes: Node[];
  readonly dir: string;
  readonly configFile: string;

  constructor(label: string, n: number, config: string, opts: { prefix?: string } = {}) {
    this.dir = tempDir(label);
    this.configFile = join(this.dir, 'net-conf.json');
    writeFileSync(this.configFile, config);
    const ns = opts.prefix ? { prefix: opts.prefix } : {};
    this.sw = new Netns(`${label}sw`, ns);
    const hosts = Array.from({ length: n }, (_, i) => new Netns(`${label}${i + 1}`, ns));
    const ips = underlaySwitch(this.sw, hosts);
    this.nodes = hosts.map((ns, i) => ({
      ns,
      ip: ips[i]!,
      dir: join(this.dir, `n${i + 1}`),
      subnetFile: join(this.dir, `n${i + 1}`, 'subnet.env'),
    }));
  }

  /** Flags every node gets: its interface, subnet file, one queue. */
  baseArgs(node: Node): string[] {
    return ['run', '--iface', 'ul', '--subnet-file', node.subnetFile, '--queues', '1'];
  }

  /** Flags for the embedded store in `dataDir` seeded with this cluster's config; `health`: the health server on 127.0.0.1:8081. */
  embeddedArgs(dataDir: string, opts: { health?: boolean } = {}): string[] {
    const health = opts.health ? ['--healthz-ip', '127.0.0.1', '--healthz-port', '8081'] : [];
    return ['--data-dir', dataDir, '--net-config-path', this.configFile, ...health];
  }

  start(node: Node, extra: string[], env: NodeJS.ProcessEnv = {}, opts: { logFile?: string } = {}): WeftAgent {
    node.agent = new WeftAgent(node.ns, [...this.baseArgs(node), ...extra], { env, ...opts });
    return node.agent;
  }

  /** After ready: reads the lease from subnet.env and puts the pod address on lo (once). */
  learn(node: Node): void {
    const env = parseSubnetEnv(readFileSync(node.subnetFile, 'utf8'));
    const subnet = formatCidr(env.subnet!);
    if (node.subnet === subnet) return;
    if (node.pod) node.ns.ip('addr', 'del', `${node.pod}/32`, 'dev', 'lo');
    node.subnet = subnet;
    node.pod = formatIPv4(env.subnet!.ip + 5);
    node.ns.ip('addr', 'add', `${node.pod}/32`, 'dev', 'lo');
  }

  /**
   * Until every learned node's table holds every other learned node's lease:
   * a node ready before another had its lease learns it from its watch, and
   * a packet sent to it before that is dropped (no route).
   */
  async untilMeshed(ms = 10_000): Promise<void> {
    const learned = this.nodes.filter((n) => n.subnet);
    for (const n of learned) {
      const want = learned.filter((m) => m !== n).map((m) => m.subnet!);
      await until(
        () => {
          const have = new Set(tableOf(n).entries.map((e) => e.subnet));
          return want.every((s) => have.has(s));
        },
        ms,
        `${n.ip}'s table holds the leases ${want.join(', ')}`,
      );
    }
  }

  async destroy(): Promise<void> {
    for (const n of this.nodes) {
      if (n.agent?.running) await n.agent.stop('SIGKILL').catch(() => undefined);
      try {
        weftCli(n.ns, ['cleanup', '--subnet-file', n.subnetFile]);
      } catch {
        // best effort
      }
      await n.ns.destroy();
    }
    await this.sw.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
