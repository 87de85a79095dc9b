/**
 * Classifies IP addresses by the kind of network they belong to, so downloads of untrusted URLs can
 * refuse anything that is not an ordinary public unicast address. Pure: no Node imports, no DNS.
 *
 * Addresses are compared as numbers (IPv4 as 32 bits, IPv6 as 128 bits) against fixed prefixes, so
 * every textual form of one address (`::ffff:7f00:1`, `::ffff:127.0.0.1`, expanded or compressed
 * IPv6) lands on the same answer. IPv4 notations such as `2130706433`, `0177.0.0.1` or `127.1` are
 * not addresses here at all: the WHATWG URL parser turns them into dotted quads before a host ever
 * reaches this module, and a host that still looks like one is refused by the guard.
 */

/** Why an address is not public. `public` means an ordinary global unicast address. */
export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'shared (CGNAT)'
  | 'multicast'
  | 'unspecified'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'IPv4-mapped or translated IPv6';

interface Range {
  base: bigint;
  bits: number;
  kind: AddressKind;
}

const V4_RANGES: readonly [string, number, AddressKind][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'shared (CGNAT)'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'documentation'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'documentation'],
  ['203.0.113.0', 24, 'documentation'],
  ['224.0.0.0', 4, 'multicast'],
  ['255.255.255.255', 32, 'broadcast'],
  ['240.0.0.0', 4, 'reserved'],
];

const V6_RANGES: readonly [string, number, AddressKind][] = [
  ['::', 128, 'unspecified'],
  ['::1', 128, 'loopback'],
  // Every way of carrying an IPv4 address inside IPv6 is refused outright: the embedded address
  // could be anything, and some stacks connect to it as IPv4.
  ['::ffff:0:0', 96, 'IPv4-mapped or translated IPv6'],
  ['::', 96, 'IPv4-mapped or translated IPv6'],
  ['64:ff9b::', 96, 'IPv4-mapped or translated IPv6'],
  ['64:ff9b:1::', 48, 'IPv4-mapped or translated IPv6'],
  ['2002::', 16, 'IPv4-mapped or translated IPv6'],
  ['2001::', 32, 'IPv4-mapped or translated IPv6'],
  ['100::', 64, 'reserved'],
  ['2001:db8::', 32, 'documentation'],
  ['fc00::', 7, 'unique-local'],
  ['fe80::', 10, 'link-local'],
  ['fec0::', 10, 'private'],
  ['ff00::', 8, 'multicast'],
];

function toRanges(list: readonly [string, number, AddressKind][], width: number, parse: (text: string) => bigint | undefined): Range[] {
  return list.map(([text, bits, kind]) => {
    const value = parse(text);
    if (value === undefined) throw new Error(`bad built-in range ${text}`);
    return { base: value >> BigInt(width - bits), bits, kind };
  });
}

/** A dotted-quad IPv4 address as a number, or undefined when `text` is not exactly that. */
export function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    // Strict decimal: no leading zeros (octal in some parsers), no hex, no empty parts.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

/** An IPv6 address (compressed or not, optional trailing dotted quad, no zone) as a number. */
export function parseIPv6(text: string): bigint | undefined {
  if (text.includes('%')) return undefined;
  let head = text;
  let tailV4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    tailV4 = parseIPv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const split = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const left = split(halves[0]!);
  const right = halves.length === 2 ? split(halves[1]!) : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const groups = [...left, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...right];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  if (tailV4 !== undefined) value = (value & ~0xffffffffn) | tailV4;
  return value;
}

const v4Ranges = toRanges(V4_RANGES, 32, parseIPv4);
const v6Ranges = toRanges(V6_RANGES, 128, parseIPv6);

function classify(value: bigint, width: number, ranges: readonly Range[]): AddressKind {
  // Longest prefix first, so `::1/128` wins over `::/96`.
  let best: Range | undefined;
  for (const range of ranges) {
    if (value >> BigInt(width - range.bits) === range.base && (best === undefined || range.bits > best.bits)) best = range;
  }
  return best?.kind ?? 'public';
}

/**
 * The kind of network `address` belongs to, or undefined when it is not an IP address written
 * in a standard form (dotted quad, or IPv6 with optional brackets).
 */
export function classifyAddress(address: string): AddressKind | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const v4 = parseIPv4(bare);
  if (v4 !== undefined) return classify(v4, 32, v4Ranges);
  const v6 = parseIPv6(bare);
  if (v6 !== undefined) return classify(v6, 128, v6Ranges);
  return undefined;
}

/**
 * True when `host` looks like an attempt at an IP address in a notation that is not standard
 * (all digits, hex, octal parts, fewer than four parts): such a host never reaches DNS.
 */
export function isOddNumericHost(host: string): boolean {
  if (classifyAddress(host) !== undefined) return false;
  return /^(0x[0-9a-f]*|\d+)(\.(0x[0-9a-f]*|\d+)){0,3}\.?$/i.test(host);
}
