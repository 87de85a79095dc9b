/**
 * The address guard for downloads of URLs that came from outside (RunComfy's output URLs): only
 * http(s), only hosts an optional allow-list names, and only public unicast addresses, checked
 * where it matters, when a connection is made, for every address a name resolves to.
 *
 * Checking a URL before the request is not enough: a name can resolve to a private address, a
 * redirect can point anywhere, and DNS can answer differently the second time. So the undici
 * connector itself refuses: literal IPs are checked as they are (they never go through DNS), and
 * names are resolved by a lookup that checks every answer before the socket connects to one.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, buildConnector } from 'undici';
import type { Dispatcher } from 'undici';
import { classifyAddress, isOddNumericHost } from './ip-ranges.js';

/** Which download targets are acceptable. */
export interface AddressPolicy {
  /**
   * Allow 127.0.0.0/8 and ::1. Only for the local stack, the demo, tests and benchmarks, where the
   * emulator serves files on loopback; production refuses it.
   */
  allowLoopback: boolean;
  /**
   * When non-empty, the only host names downloads may use: exact names or `*.example.com`
   * (any subdomain, not the bare domain). Case-insensitive. Addresses are still checked.
   */
  allowedHosts: readonly string[];
}

/** Production default: public addresses only, any host. */
export const DEFAULT_ADDRESS_POLICY: AddressPolicy = Object.freeze({ allowLoopback: false, allowedHosts: Object.freeze([]) as readonly string[] });

/** A download target the guard refused. `host` is safe to show; nothing else of the URL is kept. */
export class AddressRefusedError extends Error {
  override readonly name = 'AddressRefusedError';
  readonly code = 'ADDRESS_REFUSED';
  constructor(
    readonly host: string,
    readonly reason: string,
  ) {
    super(`host "${host}" refused: ${reason}`);
  }
}

/** Parses `OUTPUT_HOSTS`: comma- or space-separated names, `*.` wildcards. Throws naming a bad entry. */
export function parseHostPatterns(text: string | undefined): string[] {
  if (text === undefined) return [];
  const patterns = text.split(/[\s,]+/).map((entry) => entry.trim().toLowerCase()).filter((entry) => entry !== '');
  for (const pattern of patterns) {
    if (!/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(pattern)) {
      throw new Error(`"${pattern.slice(0, 80)}" is not a host name or a *.domain pattern`);
    }
  }
  return patterns;
}

/** True when `host` (a name, lower case) matches one of the patterns. */
export function hostMatches(host: string, patterns: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return patterns.some((pattern) => (pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1 : name === pattern));
}

/** Why an IP address may not be connected to, or undefined when it may. */
export function refusalForAddress(address: string, policy: AddressPolicy): string | undefined {
  const kind = classifyAddress(address);
  if (kind === undefined) return 'not a valid IP address';
  if (kind === 'public') return undefined;
  if (kind === 'loopback' && policy.allowLoopback) return undefined;
  return `${address.replace(/^\[|\]$/g, '')} is a ${kind} address`;
}

/**
 * Checks a URL before anything is sent: scheme, host name form, allow-list, and a literal IP's
 * kind. Throws {@link AddressRefusedError}. Names are checked again at connect time.
 */
export function checkUrl(url: URL, policy: AddressPolicy): void {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new AddressRefusedError(host || '(none)', `scheme ${url.protocol} is not http(s)`);
  checkHost(host, policy);
}

/** The connect-time half of the guard for one host: name rules for names, kind for literal IPs. */
export function checkHost(host: string, policy: AddressPolicy): void {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === '') throw new AddressRefusedError('(none)', 'the URL has no host');
  if (isIP(bare) !== 0 || classifyAddress(bare) !== undefined) {
    if (policy.allowedHosts.length > 0 && !(classifyAddress(bare) === 'loopback' && policy.allowLoopback)) {
      throw new AddressRefusedError(bare, 'only the hosts in OUTPUT_HOSTS are allowed, and an IP address is not one of them');
    }
    const refusal = refusalForAddress(bare, policy);
    if (refusal) throw new AddressRefusedError(bare, refusal);
    return;
  }
  if (isOddNumericHost(bare)) throw new AddressRefusedError(bare, 'a numeric host in a non-standard notation');
  if (policy.allowedHosts.length > 0 && !hostMatches(bare, policy.allowedHosts)) throw new AddressRefusedError(bare, 'not in OUTPUT_HOSTS');
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `dns.lookup` replacement for sockets: resolves every address of the name and refuses the
 * connection when ANY of them is not allowed (an attacker's name answering one public and one
 * private address must not get the private one on a retry).
 */
export function guardedLookup(policy: AddressPolicy, resolve: typeof dnsLookup = dnsLookup) {
  return (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    resolve(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, []);
        return;
      }
      const list = addresses;
      if (list.length === 0) {
        callback(new AddressRefusedError(hostname, 'the name resolved to no address'), []);
        return;
      }
      for (const entry of list) {
        const refusal = refusalForAddress(entry.address, policy);
        if (refusal) {
          callback(new AddressRefusedError(hostname, `it resolves to ${refusal}`), []);
          return;
        }
      }
      if (options.all) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** Settings of {@link createGuardedAgent}. */
export interface GuardedAgentOptions {
  policy: AddressPolicy;
  /** Connection establishment limit (default 10 s). */
  connectTimeoutMs?: number;
  /** Replaces DNS (tests resolve names to loopback without touching a resolver). */
  resolve?: typeof dnsLookup;
}

/**
 * An undici Agent whose every connection passes the guard: literal IPs are checked before the
 * socket is created, names through {@link guardedLookup}. A refusal fails the request with
 * {@link AddressRefusedError} before a single byte is sent.
 */
export function createGuardedAgent(options: GuardedAgentOptions): Dispatcher {
  const { policy } = options;
  const connector = buildConnector({ timeout: options.connectTimeoutMs ?? 10_000, lookup: guardedLookup(policy, options.resolve) } as buildConnector.BuildOptions);
  return new Agent({
    connect: (connectOptions, callback) => {
      try {
        checkHost(connectOptions.hostname, policy);
      } catch (error) {
        callback(error as Error, null);
        return;
      }
      connector(connectOptions, callback);
    },
  });
}

/** The {@link AddressRefusedError} somewhere in an error's cause chain, if any. */
export function findAddressRefusal(error: unknown): AddressRefusedError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (current instanceof AddressRefusedError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
