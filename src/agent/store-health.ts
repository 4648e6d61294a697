// Whether the agent's store answers, as /readyz reports it: startup calls
// retried with backoff while it is unreachable, errors from the lease
// manager's watch and renewals, and a probe that keeps asking while the
// node runs (every 2 s; after a failure with backoff up to the cap). The
// first failure is a warning, repeats are debug lines, and the recovery is
// one "store reachable again".

import type { AgentLogger } from './agent-options';
import { retrying, withTimeout } from './retry';

export interface StoreHealthOptions {
  log: AgentLogger;
  /** The store's name for logs (`etcd http://…`); undefined before it is opened. */
  describe: () => string | undefined;
  /** Only a running node reports recoveries and probes. */
  running: () => boolean;
  /** Aborts retries and the probe (the agent stopping). */
  signal: AbortSignal;
  maxDelayMs: number;
}

const kProbeIntervalMs = 2000;
const kProbeTimeoutMs = 3000;

export class StoreHealth {
  readonly #o: StoreHealthOptions;
  #error: string | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: StoreHealthOptions) {
    this.#o = o;
    o.signal.addEventListener('abort', () => clearTimeout(this.#timer), { once: true });
  }

  /** The last store error, or undefined while the store answers. */
  get error(): string | undefined {
    return this.#error;
  }

  /** Runs a startup store call, retried with backoff while the store is unreachable. */
  async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const v = await retrying(fn, {
      signal: this.#o.signal,
      maxDelayMs: this.#o.maxDelayMs,
      onRetry: (err, delayMs, attempt) => {
        const store = this.#o.describe();
        this.#error = `${store ?? 'store'}: ${err.message}`;
        this.#o.log.warn(`cannot ${what}, retrying`, { store, err: err.message, retryInMs: delayMs, attempt });
      },
    });
    this.#error = undefined;
    return v;
  }

  failed(err: Error, during: string): void {
    const first = this.#error === undefined;
    this.#error = err.message;
    (first ? this.#o.log.warn : this.#o.log.debug).call(this.#o.log, `store error during ${during}`, {
      store: this.#o.describe(),
      err: err.message,
    });
  }

  /** The store answered (an event, a renewal, a probe). */
  ok(): void {
    if (!this.#o.running()) return;
    if (this.#error !== undefined) this.#o.log.info('store reachable again', { store: this.#o.describe() });
    this.#error = undefined;
  }

  /** Probes the store while the node runs, until the signal aborts. */
  startProbe(probe: () => Promise<unknown>): void {
    let delay = 1000;
    const tick = async (): Promise<void> => {
      if (!this.#o.running()) return;
      try {
        await withTimeout(probe(), kProbeTimeoutMs, 'store probe');
        this.ok();
        delay = 1000;
      } catch (err) {
        this.failed(err as Error, 'probe');
        delay = Math.min(delay * 2, this.#o.maxDelayMs);
      }
      this.#schedule(tick, this.#error !== undefined ? delay : kProbeIntervalMs);
    };
    this.#schedule(tick, kProbeIntervalMs);
  }

  #schedule(tick: () => Promise<void>, ms: number): void {
    if (this.#o.signal.aborted || !this.#o.running()) return;
    this.#timer = setTimeout(() => void tick(), ms).unref();
  }
}
