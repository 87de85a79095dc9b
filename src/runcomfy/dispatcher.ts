import { Agent, Dispatcher } from 'undici';

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
  /**
   * Upper bound on a server-suggested keep-alive time. Default 30 000: well below the 60 s idle
   * timeout load balancers commonly use, so the pool drops a socket long before the server does.
   */
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
  keepAliveMaxTimeoutMs: 30_000,
  connectionsPerOrigin: 32,
} as const satisfies Required<RunComfyDispatcherOptions>;

/**
 * Creates the dispatcher every RunComfy call of a process should share: a keep-alive pool per origin
 * with connect, headers and body timeouts, plus a second pool that never keeps a connection, for the
 * requests that ask for one (`reset: true`, which the client sets on submits). Create it once (in the
 * worker's entry point) and pass it to each `RunComfyClient`; whoever creates it closes it on shutdown.
 *
 * Why submits never ride on a pooled socket: a server may close an idle keep-alive connection at the
 * very moment the client writes the next request on it (the client's idle timer is late on a busy
 * event loop, or the FIN is still in flight). undici then fails the request with "other side closed"
 * after writing it, and for a non-idempotent POST that is an unknown outcome — the job may exist. A
 * fresh connection has no idle period, so that race cannot hit a submit; it only costs one TCP (and
 * TLS) handshake per submit. Reads keep the pool: a read failing that way is simply retried.
 *
 * undici checks the headers and body timeouts on a coarse timer (about one second of resolution), so
 * sub-second values fire after roughly a second.
 *
 * Pipelining stays at 1: a POST on a pipelined socket that dies is the ambiguous-submit case this
 * project works hard to avoid.
 */
export function createRunComfyDispatcher(options: RunComfyDispatcherOptions = {}): Dispatcher {
  const settings = { ...DEFAULT_RUNCOMFY_DISPATCHER_OPTIONS, ...definedOnly(options) };
  const timeouts = { connect: { timeout: settings.connectTimeoutMs }, headersTimeout: settings.headersTimeoutMs, bodyTimeout: settings.bodyTimeoutMs };
  const pooled = new Agent({
    ...timeouts,
    keepAliveTimeout: settings.keepAliveTimeoutMs,
    keepAliveMaxTimeout: settings.keepAliveMaxTimeoutMs,
    // drop an idle socket this long before the server's announced keep-alive time runs out (a larger
    // margin would stop reuse against servers announcing a few seconds, e.g. Node's default 5 s)
    keepAliveTimeoutThreshold: KEEP_ALIVE_SAFETY_MARGIN_MS,
    connections: settings.connectionsPerOrigin,
    pipelining: 1,
  });
  // pipelining 0: undici closes each connection after its one request, so none is ever idle in this pool
  const fresh = new Agent({ ...timeouts, connections: settings.connectionsPerOrigin, pipelining: 0 });
  return new FreshConnectionRouter(pooled, fresh);
}

/** Subtracted from a server's keep-alive hint before the client trusts an idle socket. */
export const KEEP_ALIVE_SAFETY_MARGIN_MS = 2_000;

/** Sends `reset: true` requests over a new connection each, everything else over the keep-alive pool. */
class FreshConnectionRouter extends Dispatcher {
  readonly #pooled: Agent;
  readonly #fresh: Agent;

  constructor(pooled: Agent, fresh: Agent) {
    super();
    this.#pooled = pooled;
    this.#fresh = fresh;
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return (options.reset === true ? this.#fresh : this.#pooled).dispatch(options, handler);
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const closed = Promise.all([this.#pooled.close(), this.#fresh.close()]).then(() => undefined);
    if (callback === undefined) return closed;
    void closed.then(callback, callback);
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const error = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const done = typeof errOrCallback === 'function' ? errOrCallback : callback;
    const destroyed = Promise.all([this.#pooled.destroy(error), this.#fresh.destroy(error)]).then(() => undefined);
    if (done === undefined) return destroyed;
    void destroyed.then(done, done);
  }
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
