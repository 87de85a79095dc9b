import { Agent } from 'undici';
import type { Dispatcher } from 'undici';

/** Timeouts and pool sizing of {@link createRunComfyDispatcher}. All durations in milliseconds. */
export interface RunComfyDispatcherOptions {
  /** Time to establish a connection (TCP + TLS). Default 10 000. */
  readonly connectTimeoutMs?: number;
  /** Time from sending the request to receiving the complete response headers. Default 30 000. */
  readonly headersTimeoutMs?: number;
  /** Longest silence between two body chunks. Default 30 000. */
  readonly bodyTimeoutMs?: number;
  /** How long an idle keep-alive socket is kept when the server sends no hint. Default 10 000. */
  readonly keepAliveTimeoutMs?: number;
  /** Upper bound on a server-suggested keep-alive time. Default 60 000. */
  readonly keepAliveMaxTimeoutMs?: number;
  /** Maximum sockets per origin. Default 32: polls are short, a worker runs many concurrently. */
  readonly connectionsPerOrigin?: number;
}

/** Defaults used by {@link createRunComfyDispatcher} and the client when it creates its own dispatcher. */
export const DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS = {
  connectTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 30_000,
  keepAliveTimeoutMs: 10_000,
  keepAliveMaxTimeoutMs: 60_000,
  connectionsPerOrigin: 32,
} as const satisfies Required<RunComfyDispatcherOptions>;

/**
 * Creates the undici Agent every RunComfy call of a process should share: a keep-alive pool per
 * origin with connect, headers and body timeouts. Create it once (in the worker's entry point) and
 * pass it to each `RunComfyClient`; whoever creates it closes it on shutdown.
 *
 * undici checks the headers and body timeouts on a coarse timer (about one second of resolution), so
 * sub-second values fire after roughly a second.
 *
 * Pipelining stays at 1: a POST on a pipelined socket that dies is the ambiguous-submit case this
 * project works hard to avoid.
 */
export function createRunComfyDispatcher(options: RunComfyDispatcherOptions = {}): Dispatcher {
  const settings = { ...DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS, ...definedOnly(options) };
  return new Agent({
    connect: { timeout: settings.connectTimeoutMs },
    headersTimeout: settings.headersTimeoutMs,
    bodyTimeout: settings.bodyTimeoutMs,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    keepAliveMaxTimeout: settings.keepAliveMaxTimeoutMs,
    connections: settings.connectionsPerOrigin,
    pipelining: 1,
  });
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
