// MAC addresses: written lower-case and colon-separated everywhere (design §10).

import { randomBytes } from 'node:crypto';

const kMac = /^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/;

/** Parses `0e:2a:0a:f4:01:00` (any case); undefined when malformed. */
export function parseMac(text: string): Buffer | undefined {
  if (!kMac.test(text)) return undefined;
  return Buffer.from(text.replace(/:/g, ''), 'hex');
}

export function formatMac(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Canonical form of a MAC string, or undefined when it is not one. */
export function normalizeMac(text: string): string | undefined {
  const bytes = parseMac(text);
  return bytes && formatMac(bytes);
}

/** A usable unicast VTEP MAC: not multicast, not all-zero. */
export function isUnicastMac(bytes: Uint8Array): boolean {
  return (bytes[0]! & 1) === 0 && bytes.some((b) => b !== 0);
}

/** A random locally administered unicast MAC, as flannel makes for flannel.<VNI>. */
export function randomMac(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0]! & 0xfe) | 0x02;
  return formatMac(bytes);
}
