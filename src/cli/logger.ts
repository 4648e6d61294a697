// The CLI's logger: one logfmt line per event on stderr,
//   time=2025-01-02T03:04:05.678Z level=info msg="acquired lease" subnet=10.244.3.0/24
// Levels: debug < info < warn < error (`--log-level`).

import type { AgentLogger } from '../agent/agent-options';

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : v instanceof Error ? v.message : (JSON.stringify(v) ?? String(v));
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}

export class Logger implements AgentLogger {
  readonly #min: number;
  readonly #write: (line: string) => void;

  constructor(level: LogLevel = 'info', write: (line: string) => void = (l) => process.stderr.write(l)) {
    this.#min = LOG_LEVELS.indexOf(level);
    this.#write = write;
  }

  #log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (LOG_LEVELS.indexOf(level) < this.#min) return;
    let line = `time=${new Date().toISOString()} level=${level} msg=${value(msg)}`;
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) line += ` ${k}=${value(v)}`;
    this.#write(`${line}\n`);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#log('error', msg, fields);
  }
}
