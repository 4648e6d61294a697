// `weft run` as a real process inside a test namespace, and the other CLI
// commands run there. Processes are killed by PID in stop()/kill() and by
// Netns.destroy(); nothing runs in the root namespace except the test itself.

import { type ChildProcess, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataPlaneStats } from '../dataplane/stats';
import type { Netns } from './netns';

/** dist/src/cli/main.js, from dist/src/lab. */
export const kWeftMain = join(__dirname, '..', 'cli', 'main.js');

export function tempDir(label: string): string {
  return mkdtempSync(join(tmpdir(), `weft-${label}-`));
}

export async function until(pred: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > end) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface WeftAgentOptions {
  env?: NodeJS.ProcessEnv;
  /**
   * Log to this file instead of a pipe, in a process group of its own: the
   * agent then survives this process (`weft demo --keep`).
   */
  logFile?: string;
}

export class WeftAgent {
  readonly ns: Netns;
  readonly child: ChildProcess;
  readonly logFile: string | undefined;
  #log = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(ns: Netns, args: string[], opts: WeftAgentOptions = {}) {
    this.ns = ns;
    this.logFile = opts.logFile;
    const env = { ...process.env, ...(opts.env ?? {}) };
    if (opts.logFile) {
      const fd = openSync(opts.logFile, 'a');
      this.child = ns.spawn(process.execPath, [kWeftMain, ...args], { stdio: ['ignore', fd, fd], env, detached: true });
      closeSync(fd);
    } else {
      this.child = ns.spawn(process.execPath, [kWeftMain, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
      this.child.stderr!.on('data', (d: Buffer) => (this.#log += d.toString()));
      this.child.stdout!.resume();
    }
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        resolve();
      }),
    );
  }

  /** What the agent logged so far. */
  get stderr(): string {
    if (!this.logFile) return this.#log;
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null;
  }

  /** Waits until stderr matches; fails early (with the log) if the process exits first. */
  async waitLog(re: RegExp, ms = 20_000): Promise<void> {
    const end = Date.now() + ms;
    while (!re.test(this.stderr)) {
      if (!this.running) throw new Error(`weft exited (${this.exitCode ?? this.exitSignal}) before ${re}:\n${this.stderr}`);
      if (Date.now() > end) throw new Error(`no ${re} within ${ms} ms:\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  waitReady(ms = 20_000): Promise<void> {
    return this.waitLog(/ msg=ready /, ms);
  }

  /** Sends a signal and waits for the exit; returns the code and how long it took. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 5000): Promise<{ code: number | null; ms: number }> {
    const t0 = Date.now();
    if (this.running && this.child.pid) process.kill(this.child.pid, signal);
    const timer = setTimeout(() => this.running && this.child.pid && process.kill(this.child.pid, 'SIGKILL'), ms);
    await this.exited;
    clearTimeout(timer);
    return { code: this.exitCode, ms: Date.now() - t0 };
  }

  /** Errors logged (level=error lines). */
  errorLines(): string[] {
    return this.stderr.split('\n').filter((l) => / level=error /.test(l));
  }
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `weft <args>` to completion inside the namespace. */
export function weftCli(ns: Netns, args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): CliResult {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, ...(opts.prefix ?? []), process.execPath, kWeftMain, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...(opts.env ?? {}) },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `weft table --json` of a node's namespace; throws with weft's stderr when it fails. */
export function tableOf(node: { ns: Netns }): DataPlaneStats {
  const r = weftCli(node.ns, ['table', '--json']);
  if (r.code !== 0) throw new Error(`weft table --json exited ${String(r.code)}: ${r.stderr}`);
  return JSON.parse(r.stdout) as DataPlaneStats;
}

/** GET from inside the namespace (curl): status code and body. */
export function httpGet(ns: Netns, url: string): { status: number; body: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'curl', '-s', '-m', '3', '-w', '\n%{http_code}', url], { encoding: 'utf8' });
  const out = r.stdout ?? '';
  const nl = out.lastIndexOf('\n');
  return { status: Number(out.slice(nl + 1)) || 0, body: out.slice(0, nl) };
}
