/**
 * The webhook receiver: a stateless HTTP server that turns RunComfy's job events into `jobNudge`
 * signals. Stateless, so any number of copies can run behind one address; the only state is a small
 * cache of recent deliveries that spares Temporal a second signal for a replayed call.
 *
 *   POST <path>?wf&step&attempt&token   a job's event → 200 (signaled / duplicate / workflow closed),
 *                                       202 (ignored: not a job event), 400 (unparseable request
 *                                       target), 401 (bad token), 413 (too large), 429 (too many
 *                                       events for one job: RunComfy retries later), 503 (Temporal
 *                                       unavailable: RunComfy retries)
 *   GET /healthz                        200 while serving
 *   GET /metrics                        Prometheus text, when `serveMetrics` (standalone service)
 *
 * Nothing in a payload is trusted: the token proves only which step and attempt the URL was made
 * for; the workflow then reads the job's status through the API. The token and the query are never
 * logged.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LogMetadata } from '@temporalio/common';
import type { JobNudge } from '../contract/pipeline-contract.js';
import type { WebhookReceiverSettings } from './config.js';
import type { WebhookMetrics, WebhookOutcome } from './metrics.js';
import type { NudgeWorkflow } from './nudge.js';
import { parseWebhookQuery, verifyWebhookToken } from './token.js';

/** The logger calls the receiver makes (Temporal's Runtime logger fits). */
export interface WebhookLog {
  debug(message: string, meta?: LogMetadata): void;
  info(message: string, meta?: LogMetadata): void;
  warn(message: string, meta?: LogMetadata): void;
}

export interface WebhookReceiverOptions {
  settings: WebhookReceiverSettings;
  nudge: NudgeWorkflow;
  metrics: WebhookMetrics;
  log: WebhookLog;
  /** Serve `GET /metrics` from `metrics.registry` (the standalone service; a worker serves its own). */
  serveMetrics?: boolean;
  /** Recent deliveries remembered to answer replays without a second signal (default 10,000; 0 = off). */
  recentDeliveries?: number;
  /** Signals one job attempt may receive from this receiver: see {@link NudgeAllowance} (default 20, one more a minute). */
  nudgesPerJob?: { burst: number; refillMs: number };
  /** Open connections beyond which new ones are closed at once (default 1,000). */
  maxConnections?: number;
}

const MAX_REQUEST_ID_LENGTH = 256;
/** Forged calls are logged at most once per this interval, with a count: a flood must not flood the logs. */
const FORGED_LOG_INTERVAL_MS = 10_000;
const MAX_STATUS_LENGTH = 32;

/** A payload status reduced to a short token that is safe in logs and history (`in_progress`, `succeeded`). */
export function safeStatus(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const token = value.trim().toLowerCase().replace(/[^a-z0-9_-]/g, '').slice(0, MAX_STATUS_LENGTH);
  return token === '' ? undefined : token;
}

/** What a body says, when it looks like a job event: a string `request_id` and maybe a status (`status`, else `outcome`). */
export function readJobEvent(body: Buffer): { requestId: string; status?: string } | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const requestId = record['request_id'];
  if (typeof requestId !== 'string' || requestId.trim() === '' || requestId.length > MAX_REQUEST_ID_LENGTH) return undefined;
  // API.md: the payload carries `status` and/or `outcome` (final events may have only the latter).
  const status = safeStatus(record['status']) ?? safeStatus(record['outcome']);
  return { requestId: requestId.trim(), ...(status ? { status } : {}) };
}

/** Moves `key` to the end of an insertion-ordered map (most recently used), dropping the oldest entry past `capacity`. */
function touchRecent<V>(map: Map<string, V>, key: string, value: V, capacity: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > capacity) map.delete(map.keys().next().value!);
}

/** Insertion-ordered map used as an LRU of recent deliveries. */
class RecentDeliveries {
  readonly #seen = new Map<string, true>();
  constructor(readonly capacity: number) {}
  has(key: string): boolean {
    if (!this.#seen.has(key)) return false;
    touchRecent(this.#seen, key, true, this.capacity);
    return true;
  }
  add(key: string): void {
    if (this.capacity > 0) touchRecent(this.#seen, key, true, this.capacity);
  }
}

/**
 * How many signals each job attempt (a token's subject) may still cause: a token bucket per subject.
 * A valid URL that leaks, or a sender stuck in a loop, can vary `request_id` and `status` past the
 * replay cache without end, and every signal is a history event and a workflow task: unchecked, that
 * grows the pipeline's history toward Temporal's limit, where the run is terminated. A real job sends
 * at most three distinct events (queued, running, final), so the bucket never binds for RunComfy;
 * a refused call gets a 429 and RunComfy delivers it later, and the backstop read notices the job
 * anyway. Per receiver copy: N copies allow N times as much, which is still bounded.
 */
export class NudgeAllowance {
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();
  constructor(
    readonly burst: number,
    readonly refillMs: number,
    readonly maxSubjects = 20_000,
    private readonly now: () => number = Date.now,
  ) {}

  #current(key: string): { tokens: number; atMs: number } {
    const nowMs = this.now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.burst, atMs: nowMs };
    if (bucket.tokens >= this.burst) {
      // A full bucket saves no credit while at rest: refills count from the first call that spends.
      bucket.atMs = nowMs;
    } else {
      const intervals = Math.floor((nowMs - bucket.atMs) / this.refillMs);
      if (intervals > 0) {
        bucket.tokens = Math.min(this.burst, bucket.tokens + intervals);
        // Keep the remainder of a partly elapsed interval, so that steady calls still refill.
        bucket.atMs = bucket.tokens >= this.burst ? nowMs : bucket.atMs + intervals * this.refillMs;
      }
    }
    touchRecent(this.#buckets, key, bucket, this.maxSubjects);
    return bucket;
  }

  /**
   * Takes one signal's worth for `key` when there is one: taken before the signal is sent, so that
   * calls arriving together cannot all pass while the first ones are still on their way to Temporal.
   */
  take(key: string): boolean {
    const bucket = this.#current(key);
    if (bucket.tokens <= 0) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Gives back what {@link take} took, for a signal that was not sent. */
  giveBack(key: string): void {
    const bucket = this.#current(key);
    bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
  }

  /** Seconds until `key` may be signaled again (for Retry-After). */
  retryAfterSeconds(key: string): number {
    const bucket = this.#current(key);
    if (bucket.tokens > 0) return 0;
    return Math.max(1, Math.ceil((bucket.atMs + this.refillMs - this.now()) / 1000));
  }
}

type BodyRead = { kind: 'body'; body: Buffer } | { kind: 'oversize' } | { kind: 'aborted' };

function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyRead> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve({ kind: 'oversize' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = (result: BodyRead): void => {
      if (done) return;
      done = true;
      req.off('data', onData);
      resolve(result);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > maxBytes) {
        // Stop reading: the rest is never buffered; the connection closes after the 413.
        req.pause();
        finish({ kind: 'oversize' });
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => finish({ kind: 'body', body: Buffer.concat(chunks, total) }));
    req.once('error', () => finish({ kind: 'aborted' }));
    req.once('close', () => finish(req.complete ? { kind: 'body', body: Buffer.concat(chunks, total) } : { kind: 'aborted' }));
  });
}

function answer(res: ServerResponse, status: number, text: string, close = false, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers, ...(close ? { connection: 'close' } : {}) }).end(`${text}\n`);
}

/** A receiver server, not yet listening: see {@link listenWebhookReceiver}. */
export function createWebhookReceiver(options: WebhookReceiverOptions): Server {
  const { settings, nudge, metrics, log } = options;
  const recent = new RecentDeliveries(options.recentDeliveries ?? 10_000);
  const allowance = new NudgeAllowance(options.nudgesPerJob?.burst ?? 20, options.nudgesPerJob?.refillMs ?? 60_000);
  let forgedLoggedAtMs = Number.NEGATIVE_INFINITY;
  let forgedUnlogged = 0;

  async function receive(req: IncomingMessage, res: ServerResponse, search: URLSearchParams): Promise<void> {
    const outcome = (name: WebhookOutcome, status: number, text: string, meta: LogMetadata = {}, close = false, headers: Record<string, string> = {}): void => {
      metrics.count(name);
      answer(res, status, text, close, headers);
      if (name === 'forged') {
        forgedUnlogged++;
        if (Date.now() - forgedLoggedAtMs < FORGED_LOG_INTERVAL_MS) return;
        forgedLoggedAtMs = Date.now();
        log.warn('webhook forged', { outcome: name, httpStatus: status, forgedSinceLastLog: forgedUnlogged, ...meta });
        forgedUnlogged = 0;
        return;
      }
      log[name === 'error' ? 'warn' : 'debug'](`webhook ${name}`, { outcome: name, httpStatus: status, ...meta });
    };
    const query = parseWebhookQuery(search);
    if (!query || !verifyWebhookToken(settings.secrets, query.subject, query.token)) {
      // Only the peer's address: the query is attacker-chosen and may hold a real token's near miss.
      outcome('forged', 401, 'unauthorized', { remoteAddress: req.socket.remoteAddress ?? 'unknown' }, true);
      return;
    }
    const { workflowId, stepId, attempt } = query.subject;
    const where = { workflowId, stepId, attempt };
    const read = await readBody(req, settings.maxBodyBytes);
    if (read.kind === 'aborted') return;
    if (read.kind === 'oversize') {
      outcome('oversize', 413, 'payload too large', where, true);
      return;
    }
    const event = readJobEvent(read.body);
    if (!event) {
      outcome('ignored', 202, 'accepted, not a job event', where);
      return;
    }
    const replayKey = `${query.token}\n${event.requestId}\n${event.status ?? ''}`;
    const meta = { ...where, requestId: event.requestId, ...(event.status ? { status: event.status } : {}) };
    if (recent.has(replayKey)) {
      outcome('duplicate', 200, 'ok (already passed on)', meta);
      return;
    }
    const subjectKey = JSON.stringify([workflowId, stepId, attempt]);
    if (!allowance.take(subjectKey)) {
      outcome('throttled', 429, 'too many events for this job', meta, false, { 'retry-after': String(allowance.retryAfterSeconds(subjectKey)) });
      return;
    }
    const signal: JobNudge = { stepId, attempt, requestId: event.requestId, ...(event.status ? { status: event.status } : {}) };
    let result;
    try {
      result = await nudge(workflowId, signal);
    } catch (error) {
      allowance.giveBack(subjectKey);
      outcome('error', 503, 'temporarily unavailable', { ...meta, error: error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : 'unknown' });
      return;
    }
    if (result === 'closed') {
      allowance.giveBack(subjectKey);
      outcome('closed', 200, 'ok (pipeline already closed)', meta);
      return;
    }
    recent.add(replayKey);
    outcome('signaled', 200, 'ok', meta);
  }

  const server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://receiver.invalid');
    } catch {
      // An absolute-form target such as `http://[` does not parse: thrown here, it would be an
      // uncaught exception that ends the process (the worker, when the receiver runs inside it).
      metrics.count('forged');
      answer(res, 400, 'bad request', true);
      return;
    }
    if (url.pathname === settings.path) {
      if (req.method !== 'POST') {
        answer(res, 405, 'method not allowed');
        return;
      }
      receive(req, res, url.searchParams).catch((error: unknown) => {
        metrics.count('error');
        log.warn('webhook receiver failed', { error: error instanceof Error ? error.message.slice(0, 200) : 'unknown' });
        answer(res, 500, 'internal error', true);
      });
      return;
    }
    if (req.method === 'GET' && url.pathname === '/healthz') {
      answer(res, 200, 'ok');
      return;
    }
    if (req.method === 'GET' && url.pathname === '/metrics' && options.serveMetrics) {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        () => answer(res, 500, 'metrics unavailable'),
      );
      return;
    }
    answer(res, 404, 'not found');
  });
  // RunComfy gives up on an attempt after 10 s; a slow client must not hold a socket for longer.
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  // Inside a worker the receiver shares the process's file descriptors with Temporal, RunComfy and
  // the store: a flood of idle connections must not use them all up.
  server.maxConnections = options.maxConnections ?? 1_000;
  return server;
}

/** A listening receiver. */
export interface RunningWebhookReceiver {
  readonly server: Server;
  readonly port: number;
  /** Base URL on the bound address (http://host:port), for tests and logs. */
  readonly url: string;
  /** Stops accepting, lets calls in flight finish for up to `graceMs`, then drops what is left. */
  close(graceMs?: number): Promise<void>;
}

/** Listens on `port` (0 = a free one) and `host`. */
export async function listenWebhookReceiver(server: Server, port: number, host = '0.0.0.0'): Promise<RunningWebhookReceiver> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return {
    server,
    port: bound,
    url: `http://${shownHost}:${bound}`,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
