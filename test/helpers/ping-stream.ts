// A ping stream for forwarding-gap measurements: `ping -D -i <interval>`
// running inside a namespace until stop(), then its replies parsed. Lost
// pings are the sequence numbers sent but never answered; the longest gap is
// the largest distance between consecutive reply timestamps (ping -D).

import type { ChildProcess } from 'node:child_process';
import type { Netns } from './netns';

export interface PingStreamResult {
  /** Echo requests sent (highest icmp_seq seen or reported + 1). */
  sent: number;
  received: number;
  lost: number;
  /** Longest time between two consecutive replies, ms. */
  longestGapMs: number;
  /** The interval ping really kept (a loaded machine stretches -i), ms. */
  meanIntervalMs: number;
  /** Reply timestamps (s since the epoch) in arrival order. */
  replies: { seq: number; t: number }[];
}

export class PingStream {
  readonly #child: ChildProcess;
  readonly intervalMs: number;
  #out = '';
  readonly #exited: Promise<void>;

  constructor(ns: Netns, dst: string, opts: { src?: string; intervalMs?: number } = {}) {
    this.intervalMs = opts.intervalMs ?? 10;
    const args = ['-D', '-n', '-i', String(this.intervalMs / 1000), '-W', '1'];
    if (opts.src) args.push('-I', opts.src);
    this.#child = ns.spawn('ping', [...args, dst], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child.stdout!.on('data', (d: Buffer) => (this.#out += d.toString()));
    this.#child.stderr!.resume();
    this.#exited = new Promise((r) => this.#child.once('exit', () => r()));
  }

  /** Replies so far. */
  get replies(): number {
    return (this.#out.match(/ icmp_seq=/g) ?? []).length;
  }

  /** What ping saw so far (pings after the last reply are not counted lost yet). */
  snapshot(): PingStreamResult {
    return parsePing(this.#out);
  }

  /** Stops ping (SIGINT, so it prints its summary) and parses what it saw. */
  async stop(): Promise<PingStreamResult> {
    // ping runs under `ip netns exec`, which execs it: the child's PID is ping's.
    if (this.#child.exitCode === null && this.#child.signalCode === null && this.#child.pid) process.kill(this.#child.pid, 'SIGINT');
    const timer = setTimeout(() => this.#child.pid && this.#child.exitCode === null && process.kill(this.#child.pid, 'SIGKILL'), 3000);
    await this.#exited;
    clearTimeout(timer);
    return parsePing(this.#out);
  }
}

export function parsePing(out: string): PingStreamResult {
  const replies: { seq: number; t: number }[] = [];
  const seen = new Set<number>();
  for (const m of out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from \S+: icmp_seq=(\d+) /gm)) {
    const seq = Number(m[2]);
    if (seen.has(seq)) continue; // a duplicate reply
    seen.add(seq);
    replies.push({ seq, t: Number(m[1]) });
  }
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(out);
  const maxSeq = replies.reduce((a, r) => Math.max(a, r.seq), 0);
  const sent = summary ? Number(summary[1]) : maxSeq;
  let longest = 0;
  for (let i = 1; i < replies.length; i++) longest = Math.max(longest, (replies[i]!.t - replies[i - 1]!.t) * 1000);
  const first = replies[0];
  const last = replies[replies.length - 1];
  const meanIntervalMs = first && last && last.seq > first.seq ? ((last.t - first.t) * 1000) / (last.seq - first.seq) : NaN;
  return { sent, received: seen.size, lost: Math.max(0, sent - seen.size), longestGapMs: Math.round(longest), meanIntervalMs, replies };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
