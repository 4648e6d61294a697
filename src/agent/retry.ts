// Retrying store calls through an outage: exponential backoff (1 s → cap),
// interruptible by an AbortSignal, only for errors marked recoverable
// (WeftError.recoverable) or explicitly "not yet" (config not written yet).

import { ErrorCode, WeftError } from '../errors';

export class NotYet extends Error {}

export interface RetryOptions {
  signal: AbortSignal;
  maxDelayMs: number;
  /** Called before each wait with the failure and the delay. */
  onRetry: (err: Error, delayMs: number, attempt: number) => void;
}

export function isRetryable(err: unknown): boolean {
  return err instanceof NotYet || (err instanceof WeftError && err.recoverable);
}

export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(stopped());
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(stopped());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export function stopped(): WeftError {
  return new WeftError(ErrorCode.CLOSED, 'the agent was stopped during startup');
}

export async function retrying<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  let delay = 1000;
  for (let attempt = 1; ; attempt++) {
    if (o.signal.aborted) throw stopped();
    try {
      return await fn();
    } catch (err) {
      if (o.signal.aborted) throw stopped();
      if (!isRetryable(err)) throw err;
      o.onRetry(err as Error, delay, attempt);
      await sleep(delay, o.signal);
      delay = Math.min(delay * 2, o.maxDelayMs);
    }
  }
}

/** Resolves with fn's result, or rejects after ms with a recoverable timeout error. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new WeftError(ErrorCode.STORE, `${what} timed out after ${ms} ms`, { recoverable: true })), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
