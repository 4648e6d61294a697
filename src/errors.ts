// One error class for the whole library, with stable string codes.
//
// Every error weft throws on purpose is a WeftError. `code` is the contract
// (scripts and embedders switch on it); `message` is for people and names the
// offending option or input; `option` names the option path where one is at
// fault. Wrap lower-level failures with `cause`, never by pasting messages.

export const ErrorCode = {
  /** An option or config field is missing, malformed or out of range. */
  INVALID_OPTION: 'ERR_WEFT_INVALID_OPTION',
  /** The network config JSON is invalid (flannel's rules). */
  INVALID_CONFIG: 'ERR_WEFT_INVALID_CONFIG',
  /** The native addon could not be loaded or does not match this version. */
  ADDON: 'ERR_WEFT_ADDON',
  /** Opening or configuring the TUN device failed. */
  TUN: 'ERR_WEFT_TUN',
  /** Binding or configuring the UDP socket failed. */
  SOCKET: 'ERR_WEFT_SOCKET',
  /** Creating, attaching or writing the shared-memory table failed. */
  TABLE: 'ERR_WEFT_TABLE',
  /** The table has no room for another entry. */
  TABLE_FULL: 'ERR_WEFT_TABLE_FULL',
  /** The data plane was used after close(). */
  CLOSED: 'ERR_WEFT_CLOSED',
  /** The lease store failed (connection, transaction, corruption). */
  STORE: 'ERR_WEFT_STORE',
  /** No free subnet is left in the network. */
  OUT_OF_SUBNETS: 'ERR_WEFT_OUT_OF_SUBNETS',
  /** Programming the host (addresses, routes, rules, files) failed. */
  HOST: 'ERR_WEFT_HOST',
  /** Taking a running data plane over from a predecessor failed (none there, or the hand-off broke). */
  HANDOFF: 'ERR_WEFT_HANDOFF',
  /** A command-line usage error. */
  USAGE: 'ERR_WEFT_USAGE',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const kBrand = Symbol.for('weft.error');

export interface WeftErrorOptions {
  /** The option path or config field at fault, e.g. `publicIp` or `Backend.VNI`. */
  option?: string;
  /** errno-style code of an underlying system call (`EPERM`, `EADDRINUSE`…). */
  sysCode?: string;
  /** The system call that failed, when one did. */
  syscall?: string;
  /** Transient failures (a store outage) are recoverable: retry policy reads this. */
  recoverable?: boolean;
  cause?: unknown;
}

export class WeftError extends Error {
  readonly code: ErrorCodeValue;
  readonly option: string | undefined;
  readonly sysCode: string | undefined;
  readonly syscall: string | undefined;
  readonly recoverable: boolean;

  constructor(code: ErrorCodeValue, message: string, opts: WeftErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WeftError';
    this.code = code;
    this.option = opts.option;
    this.sysCode = opts.sysCode;
    this.syscall = opts.syscall;
    this.recoverable = opts.recoverable ?? false;
  }

  get [kBrand](): true {
    return true;
  }

  static [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kBrand] === true;
  }
}

/** `<option> must be <expected>, got <received>`: the one shape of option errors. */
export function invalidOption(option: string, expected: string, received: unknown): WeftError {
  return new WeftError(ErrorCode.INVALID_OPTION, `${option} must be ${expected}, got ${describe(received)}`, {
    option,
  });
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') {
    return String(value);
  }
  try {
    return JSON.stringify(value) ?? typeof value;
  } catch {
    return typeof value;
  }
}
