// `weft demo`: the main job. An overlay of several hosts, each a network
// namespace running `weft run` against one embedded store, with traffic
// across it and the figures that matter; then everything is taken down
// again (also on Ctrl-C or failure) unless --keep asks otherwise.
//
//   switch namespace: bridge br0 ─┬─ host 1: ul 198.18.0.1, weft run → flannel.1, pod <lease>.5
//                                 ├─ host 2: ul 198.18.0.2, …
//                                 └─ host N

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, type Node } from '../lab/cluster';
import { weftCli } from '../lab/agent-process';
import { transfer } from '../lab/overlay';
import type { DataPlaneStats } from '../dataplane/stats';
import { bool, formatFlags, num, parseFlags, str, usageError, type FlagSpec } from './flags';

const kFlags: readonly FlagSpec[] = [
  { name: 'backend', kind: 'string', arg: 'vxlan|udp', def: 'vxlan', help: 'encapsulation of the overlay' },
  { name: 'hosts', kind: 'int', arg: 'N', def: 3, help: 'number of hosts, 2 to 9' },
  { name: 'mbytes', kind: 'int', arg: 'M', def: 256, help: 'size of the checked TCP transfer in MB' },
  { name: 'keep', kind: 'bool', help: 'leave the hosts running to explore; prints the commands to try' },
];
const kUsage = `usage: weft demo [flags]\n${formatFlags(kFlags)}`;

interface DemoOptions {
  backend: 'vxlan' | 'udp';
  hosts: number;
  mbytes: number;
  keep: boolean;
}

function parse(argv: string[]): DemoOptions | 'help' {
  const { values, rest, help } = parseFlags(kFlags, argv, {});
  if (help) return 'help';
  if (rest.length > 0) throw usageError(`unexpected argument ${JSON.stringify(rest[0])}`);
  const backend = str(values, 'backend');
  if (backend !== 'vxlan' && backend !== 'udp')
    throw usageError(`--backend must be vxlan or udp, got ${JSON.stringify(backend)}`, 'backend');
  const hosts = num(values, 'hosts')!;
  if (hosts < 2 || hosts > 9) throw usageError('--hosts must be an integer from 2 to 9', 'hosts');
  const mbytes = num(values, 'mbytes')!;
  if (mbytes < 1 || mbytes > 4096) throw usageError('--mbytes must be an integer from 1 to 4096', 'mbytes');
  return { backend, hosts, mbytes, keep: bool(values, 'keep') };
}

const out = (line = ''): void => void process.stdout.write(line + '\n');
const step = (line: string): void => void process.stdout.write(`▸ ${line}\n`);

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => '  ' + cells.map((c, i) => c.padEnd(widths[i]!)).join('   ');
  return [line(header), '  ' + widths.map((w) => '─'.repeat(w)).join('   '), ...rows.map(line)].join('\n');
}

function rtt(node: Node, dst: string): string {
  try {
    const text = node.ns.exec('ping', '-c', '3', '-i', '0.2', '-W', '2', '-I', node.pod!, dst);
    const avg = /= [\d.]+\/([\d.]+)\//.exec(text)?.[1];
    return avg ? `${Math.round(Number(avg) * 1000)} µs` : 'lost';
  } catch {
    return 'lost';
  }
}

export async function demoMain(argv: string[]): Promise<number> {
  let parsed: DemoOptions | 'help';
  try {
    parsed = parse(argv);
  } catch (e) {
    process.stderr.write(`weft demo: ${(e as Error).message}\n${kUsage}\n`);
    return 2;
  }
  if (parsed === 'help') {
    out(kUsage);
    return 0;
  }
  const o = parsed;
  if (process.getuid?.() !== 0) {
    process.stderr.write('weft demo: needs root (it builds network namespaces and TUN devices)\n');
    return 1;
  }
  const config = JSON.stringify({ Network: '10.244.0.0/16', Backend: { Type: o.backend } });
  out(`weft demo — ${o.hosts} hosts, ${o.backend} overlay 10.244.0.0/16 over underlay 198.18.0.0/24, one embedded store`);
  out();
  step('building hosts in network namespaces …');
  const c = new Cluster('demo', o.hosts, config, { prefix: `weft-demo-${process.pid}` });
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    process.stderr.write('\ninterrupted: tearing down …\n');
    void c.destroy().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const dataDir = join(c.dir, 'data');
  try {
    step(`starting ${o.hosts} \`weft run\` agents (store: ${dataDir}) …`);
    for (const n of c.nodes) {
      c.start(n, ['--data-dir', dataDir, '--net-config-path', c.configFile], {}, o.keep ? { logFile: join(n.dir, 'weft.log') } : {});
    }
    for (const n of c.nodes) {
      await n.agent!.waitReady(30_000);
      c.learn(n);
    }
    const stats = new Map(c.nodes.map((n) => [n, JSON.parse(weftCli(n.ns, ['table', '--json']).stdout) as DataPlaneStats]));
    out();
    out('leases (each host took one from the shared store; its pod address is <lease>.5):');
    out(
      table(
        ['host', 'underlay', 'lease', 'pod', 'device', 'VtepMAC', 'peers in table'],
        c.nodes.map((n, i) => {
          const s = stats.get(n)!;
          return [`h${i + 1}`, n.ip, n.subnet!, n.pod!, s.device, s.vtepMac ?? '–', String(s.entries.length)];
        }),
      ),
    );
    out();
    out(`subnet.env of h1 (flannel's format): ${readFileSync(c.nodes[0]!.subnetFile, 'utf8').trim().split('\n').join('  ')}`);
    out();

    step('pinging every pod from every pod (3 pings each, average round trip) …');
    let lost = 0;
    const rows = c.nodes.map((from, i) => [
      `h${i + 1}`,
      ...c.nodes.map((to) => {
        if (to === from) return '·';
        const r = rtt(from, to.pod!);
        if (r === 'lost') lost++;
        return r;
      }),
    ]);
    out(table(['from \\ to', ...c.nodes.map((_, i) => `h${i + 1}`)], rows));
    out();

    const [first, last] = [c.nodes[0]!, c.nodes[c.nodes.length - 1]!];
    step(`moving ${o.mbytes} MB over TCP from h1 to h${c.nodes.length}, hashing both ends …`);
    const t = await transfer(first.ns, last.ns, last.pod!, o.mbytes * 1024 * 1024, { fromIp: first.pod! });
    const same = t.sha256 === t.serverSha256 && t.serverBytes === t.bytes;
    out(
      `  ${(t.bytes / 1e6).toFixed(0)} MB in ${t.seconds.toFixed(2)} s = ${t.gbps.toFixed(2)} Gbit/s (one TCP stream, both ends on this machine)`,
    );
    out(`  SHA-256 sent     ${t.sha256}`);
    out(`  SHA-256 received ${t.serverSha256} ${same ? '✓ identical' : '✗ DIFFERENT'}`);
    out();

    const s1 = JSON.parse(weftCli(first.ns, ['table', '--json']).stdout) as DataPlaneStats;
    const drops = Object.entries(s1.drops).filter(([, v]) => v > 0);
    out(
      `h1's data plane: ${s1.counters.udpTxPackets} datagrams sent in ${s1.counters.udpTxSyscalls} sendmmsg calls, ` +
        `${s1.counters.tunRxGsoPackets} TSO super-packets read; offloads: ${
          Object.entries(s1.offloads)
            .filter(([, v]) => v)
            .map(([k]) => k)
            .join(', ') || 'none'
        }`,
    );
    out(`  drops: ${drops.length ? drops.map(([k, v]) => `${k} ${v}`).join(', ') : 'none'}`);
    out();
    const ok = lost === 0 && same;
    out(
      ok
        ? '✓ every pod reached every other pod and the transfer arrived intact'
        : `✗ ${lost} pod pairs unreachable${same ? '' : ', transfer corrupted'}`,
    );

    if (o.keep) {
      for (const n of [c.sw, ...c.nodes.map((x) => x.ns)]) n.keep();
      out();
      out('the hosts keep running. Try:');
      out(`  ip netns exec ${first.ns.name} ping ${last.pod}`);
      out(`  ip netns exec ${first.ns.name} node ${join(__dirname, 'main.js')} table`);
      out(
        `  ip netns exec ${last.ns.name} iperf3 -s -B ${last.pod} &  ip netns exec ${first.ns.name} iperf3 -c ${last.pod} -B ${first.pod}`,
      );
      out(`  logs: ${c.nodes.map((n) => join(n.dir, 'weft.log')).join(' ')}`);
      out('remove everything with:');
      out(
        `  kill ${c.nodes.map((n) => n.agent!.child.pid).join(' ')}; ` +
          `${[...c.nodes.map((n) => n.ns.name), c.sw.name].map((x) => `ip netns del ${x}`).join('; ')}; rm -rf ${c.dir}`,
      );
      return ok ? 0 : 1;
    }
    return ok ? 0 : 1;
  } catch (e) {
    if (!interrupted) process.stderr.write(`weft demo failed: ${(e as Error).message}\n`);
    for (const n of c.nodes)
      if (n.agent && n.agent.stderr)
        process.stderr.write(`--- ${n.ns.name} log (last lines):\n${n.agent.stderr.split('\n').slice(-8).join('\n')}\n`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (!o.keep && !interrupted) {
      step('tearing down: agents stopped, namespaces and files removed');
      await c.destroy();
    }
  }
}
