// One measurement each: iperf3 TCP (1 or N streams), iperf3 UDP with small
// packets, ping latency (IPv4 or IPv6, as the path's addresses are), sockperf request/response round trips, the
// machine's CPU time while a transfer runs, and a process's CPU while idle.

import { readFileSync } from 'node:fs';

/** Where a client command runs: a namespace, possibly pinned to a CPU (bench/lab.ts). */
export interface Runner {
  exec(cmd: string, ...args: string[]): string;
}

export interface Path {
  /** Client side (in host A) and server side (in host B) addresses. */
  src: string;
  dst: string;
}

export interface TcpResult {
  gbps: number;
  retransmits: number;
  /** CPU seconds (all cores, whole machine) per GB received. */
  cpuSecondsPerGB: number;
}

/** Busy and total CPU time of the machine so far, in seconds (from /proc/stat). */
function cpuSeconds(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / 100, total: total / 100 }; // USER_HZ = 100
}

function iperf(ns: Runner, args: string[]): Record<string, unknown> {
  // A server still closing the previous test answers "busy": wait and retry.
  for (let attempt = 0; ; attempt++) {
    try {
      return iperfOnce(ns, args);
    } catch (e) {
      if (attempt >= 10 || !/server is busy/.test((e as Error).message)) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
    }
  }
}

function iperfOnce(ns: Runner, args: string[]): Record<string, unknown> {
  let out: string;
  try {
    out = ns.exec('iperf3', '-J', ...args);
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '');
    if (!out.trim().startsWith('{')) throw e;
  }
  const json = JSON.parse(out) as Record<string, unknown> & { error?: string };
  if (json.error) throw new Error(`iperf3 ${args.join(' ')}: ${json.error}`);
  return json;
}

export function tcp(client: Runner, path: Path, seconds: number, streams: number): TcpResult {
  const before = cpuSeconds();
  const json = iperf(client, ['-c', path.dst, '-B', path.src, '-t', String(seconds), '-P', String(streams), '-O', '1']);
  const after = cpuSeconds();
  const end = json.end as { sum_received: { bits_per_second: number; bytes: number }; sum_sent: { retransmits?: number } };
  const gb = end.sum_received.bytes / 1e9;
  return {
    gbps: end.sum_received.bits_per_second / 1e9,
    retransmits: end.sum_sent.retransmits ?? 0,
    cpuSecondsPerGB: gb > 0 ? (after.busy - before.busy) / gb : 0,
  };
}

/** Received packets per second of a UDP flood with `size`-byte payloads. */
export function udpPps(client: Runner, path: Path, seconds: number, size: number): { kpps: number; lossPct: number } {
  // Offered load 1 Gbit/s (about 2 Mpps of 64-byte payloads): more than any
  // path here carries, yet paced, so iperf3's control connection is not
  // starved the way an unpaced flood (-b 0) sometimes starves it.
  const args = ['-c', path.dst, '-B', path.src, '-u', '-l', String(size), '-b', '1G', '-t', String(seconds)];
  let json: Record<string, unknown>;
  try {
    json = iperf(client, args);
  } catch {
    json = iperf(client, args); // one retry: the control connection can still time out under loss
  }
  const sum = (json.end as { sum: { packets: number; lost_packets: number; seconds: number } }).sum;
  const received = sum.packets - sum.lost_packets;
  return { kpps: received / sum.seconds / 1e3, lossPct: sum.packets > 0 ? (100 * sum.lost_packets) / sum.packets : 0 };
}

/** Round-trip times of `count` pings 5 ms apart (ping -6 on an IPv6 path): average and 99th percentile in µs. */
export function pingLatency(client: Runner, path: Path, count: number): { avgUs: number; p99Us: number } {
  let out: string;
  try {
    const family = path.dst.includes(':') ? ['-6'] : [];
    out = client.exec('ping', ...family, '-c', String(count), '-i', '0.005', '-W', '1', '-I', path.src, path.dst);
  } catch (e) {
    out = String((e as { stdout?: string }).stdout ?? '');
  }
  const times = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000).sort((a, b) => a - b);
  if (times.length === 0) throw new Error(`no ping replies from ${path.dst}`);
  const avg = times.reduce((a, b) => a + b, 0) / times.length;
  const p99 = times[Math.min(times.length - 1, Math.ceil(0.99 * times.length) - 1)]!;
  return { avgUs: avg, p99Us: p99 };
}

export interface RoundTrips {
  avgUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  /** Completed request/response exchanges per second (one outstanding at a time). */
  perSecond: number;
}

/** The sockperf server port of each protocol; each path's server binds its own address. */
export const kSockperfPorts = { tcp: 11111, udp: 11112 } as const;

/**
 * sockperf ping-pong: one 64-byte message out, the echo back, the next only
 * then, for `seconds`; full round-trip times (`--full-rtt`), after sockperf's
 * own warm-up. What a request/response protocol over the path pays.
 */
export function sockperfPingPong(client: Runner, path: Path, proto: 'tcp' | 'udp', seconds: number): RoundTrips {
  const args = [
    'ping-pong',
    '-i',
    path.dst,
    '-p',
    String(kSockperfPorts[proto]),
    '--client_ip',
    path.src,
    '-m',
    '64',
    '-t',
    String(seconds),
    '--full-rtt',
  ];
  if (proto === 'tcp') args.push('--tcp');
  let out: string;
  try {
    out = client.exec('sockperf', ...args);
  } catch (e) {
    throw new Error(`sockperf ${args.join(' ')}: ${String((e as { stderr?: string }).stderr ?? (e as Error).message).trim()}`);
  }
  // eslint-disable-next-line no-control-regex
  const text = out.replace(/\x1b\[[0-9;]*m/g, '');
  const num = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    if (!m) throw new Error(`sockperf ${proto} ping-pong to ${path.dst}: no ${what} in its output:\n${text.slice(-800)}`);
    return Number(m[1]);
  };
  const valid = /\[Valid Duration\] RunTime=([\d.]+) sec; SentMessages=\d+; ReceivedMessages=(\d+)/.exec(text);
  if (!valid) throw new Error(`sockperf ${proto} ping-pong to ${path.dst}: no run summary in its output:\n${text.slice(-800)}`);
  return {
    avgUs: num(/avg-rtt=([\d.]+)/, 'average'),
    p50Us: num(/percentile 50\.000 =\s*([\d.]+)/, 'p50'),
    p99Us: num(/percentile 99\.000 =\s*([\d.]+)/, 'p99'),
    p999Us: num(/percentile 99\.900 =\s*([\d.]+)/, 'p99.9'),
    perSecond: Number(valid[2]) / Number(valid[1]),
  };
}

/** CPU time (user + system, seconds) a process has used so far, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (fields 14, 15) in USER_HZ
}

/** Percent of one core the processes used together over `seconds` with no traffic sent. */
export async function idleCpuPercent(pids: number[], seconds: number): Promise<number> {
  const before = pids.map(processCpuSeconds);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const used = pids.map((pid, i) => processCpuSeconds(pid) - before[i]!).reduce((a, b) => a + b, 0);
  return (100 * used) / seconds;
}
