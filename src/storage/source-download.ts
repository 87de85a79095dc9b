import { request } from 'undici';
import type { Dispatcher } from 'undici';
import { SourceNotFoundError, SourceRejectedError, SourceUnavailableError } from './errors.js';
import type { ObjectStoreError } from './errors.js';
import { abortedError } from './stream-meter.js';
import { checkUrl, createGuardedAgent, DEFAULT_ADDRESS_POLICY, findAddressRefusal } from '../net/address-guard.js';
import type { AddressPolicy } from '../net/address-guard.js';
import { OutputSourceRejectedError, OutputSourceStalledError, OutputTooLargeError } from './source-errors.js';

/** An open download whose headers have arrived; its body must be consumed or destroyed. */
export interface OpenedSource {
  body: Dispatcher.ResponseData['body'];
  /** From `Content-Length`, when the source sent a valid one. */
  announcedBytes: number | undefined;
  /** The raw `Content-Type` header, when present. */
  contentType: string | undefined;
}

export interface OpenSourceOptions {
  sourceUrl: string;
  /** Object key the download is for (error messages). */
  key: string;
  signal: AbortSignal;
  /** Should be a guarded agent (`createGuardedAgent`): it checks every address at connect time. */
  dispatcher?: Dispatcher;
  /** Redirects followed, each checked like the first URL (bounded: a handful at most). */
  maxRedirections: number;
  /** Scheme, host and literal-address rules applied to the URL and to every redirect target. */
  policy?: AddressPolicy;
  /** Longest wait between two chunks of the body (and for the headers, unless `firstByteTimeoutMs` is shorter). */
  idleTimeoutMs?: number;
  /** Longest wait for the response headers (default {@link DEFAULT_FIRST_BYTE_TIMEOUT_MS}, never more than the idle timeout). */
  firstByteTimeoutMs?: number;
  /** A larger announced Content-Length is refused before the body is read. */
  maxBytes?: number;
}

/**
 * The URL as it may appear in messages: origin and path only. Output URLs can carry signatures or
 * tokens in the query string, and userinfo is a credential.
 */
export function describeSourceUrl(sourceUrl: string): string {
  try {
    const url = new URL(sourceUrl);
    const path = url.pathname.length > 200 ? `${url.pathname.slice(0, 200)}…` : url.pathname;
    return `${url.origin}${path}`;
  } catch {
    return '<unparseable URL>';
  }
}

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);
export const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
/**
 * A file server that has not started to answer within this time is stuck, not slow: the download is
 * given up and retried (a stall is retryable, a few times). Short on purpose: a retried stall must
 * still finish within a cancel's grace for the copy (10 s by default), or a paid output is lost.
 */
export const DEFAULT_FIRST_BYTE_TIMEOUT_MS = 5_000;

/**
 * Sends the GET and checks the status. Resolves once the headers of a 200 arrived; everything else
 * becomes a typed error (the body of a failed response is discarded, so no socket leaks).
 * Redirects are followed here, one hop at a time, so each target passes the address policy before
 * it is requested; the dispatcher's connect-time guard covers what DNS answers.
 */
export async function openSource(options: OpenSourceOptions): Promise<OpenedSource> {
  const { key, signal } = options;
  const policy = options.policy ?? DEFAULT_ADDRESS_POLICY;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const firstByteTimeoutMs = Math.min(idleTimeoutMs, options.firstByteTimeoutMs ?? DEFAULT_FIRST_BYTE_TIMEOUT_MS);
  let url: URL;
  try {
    url = new URL(options.sourceUrl);
  } catch (error) {
    throw new SourceRejectedError({ message: `the source URL for "${key}" is not a valid URL`, key, cause: error });
  }
  const dispatcher = options.dispatcher ?? defaultGuardedDispatcher(policy);

  for (let hop = 0; ; hop++) {
    const description = describeSourceUrl(url.href);
    try {
      checkUrl(url, policy);
    } catch (error) {
      throw rejectedSource(error, key, hop);
    }
    if (signal.aborted) throw abortedError(key, signal);
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method: 'GET',
        dispatcher,
        signal,
        // Bytes are stored exactly as served: no transparent compression in between.
        headers: { 'accept-encoding': 'identity' },
        headersTimeout: firstByteTimeoutMs,
        bodyTimeout: idleTimeoutMs,
      });
    } catch (error) {
      if (signal.aborted) throw abortedError(key, signal);
      if (findAddressRefusal(error)) throw rejectedSource(error, key, hop);
      const silentForMs = errorCode(error) === 'UND_ERR_HEADERS_TIMEOUT' ? firstByteTimeoutMs : idleTimeoutMs;
      throw classifyTransportError(error, `downloading ${description} for "${key}" failed`, key, silentForMs);
    }

    const { statusCode, headers, body } = response;
    if (REDIRECT_STATUSES.has(statusCode) && hop < options.maxRedirections) {
      discardBody(body);
      const location = singleHeader(headers.location);
      let next: URL | undefined;
      try {
        next = location === undefined ? undefined : new URL(location, url);
      } catch {
        next = undefined;
      }
      if (next === undefined) throw new SourceRejectedError({ message: `${description} answered HTTP ${statusCode} without a usable Location for "${key}"`, key, httpStatus: statusCode });
      url = next;
      continue;
    }
    if (statusCode === 200) {
      const announcedBytes = parseContentLength(headers['content-length']);
      if (options.maxBytes !== undefined && announcedBytes !== undefined && announcedBytes > options.maxBytes) {
        discardBody(body);
        throw new OutputTooLargeError({
          message: `${description} announced ${announcedBytes} bytes for "${key}", over the ${options.maxBytes}-byte limit (MAX_OUTPUT_BYTES)`,
          key,
          maxBytes: options.maxBytes,
          bytes: announcedBytes,
        });
      }
      return { body, announcedBytes, contentType: singleHeader(headers['content-type']) };
    }
    // Nothing of a refused download is needed; destroying frees the socket at once.
    discardBody(body);
    const message = `${description} answered HTTP ${statusCode} for "${key}"`;
    if (statusCode === 404 || statusCode === 410) throw new SourceNotFoundError({ message, key, httpStatus: statusCode });
    if (statusCode === 408 || statusCode === 429 || statusCode >= 500) {
      const retryAfterMs = parseRetryAfterMs(singleHeader(headers['retry-after']));
      throw new SourceUnavailableError({ message, key, httpStatus: statusCode, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
    }
    // Other 4xx, 1xx/2xx other than 200 (a 206 would be a fragment), and a 3xx past the redirect
    // limit: asking again gives the same answer.
    throw new SourceRejectedError({ message: statusCode >= 300 && statusCode < 400 ? `${message} (more than ${options.maxRedirections} redirects)` : message, key, httpStatus: statusCode });
  }
}

function rejectedSource(error: unknown, key: string, hop: number): OutputSourceRejectedError {
  const refusal = findAddressRefusal(error);
  const host = refusal?.host ?? '(unknown)';
  const reason = refusal?.reason ?? 'refused by the address guard';
  return new OutputSourceRejectedError({
    message: `output source for "${key}" refused${hop > 0 ? ` (redirect ${hop})` : ''}: host "${host}": ${reason}`,
    key,
    host,
    reason,
    cause: error,
  });
}

const guardedDispatchers = new Map<string, Dispatcher>();

/** One guarded agent per policy, shared: it pools connections like undici's global dispatcher. */
function defaultGuardedDispatcher(policy: AddressPolicy): Dispatcher {
  const id = JSON.stringify(policy);
  let dispatcher = guardedDispatchers.get(id);
  if (!dispatcher) {
    dispatcher = createGuardedAgent({ policy });
    guardedDispatchers.set(id, dispatcher);
  }
  return dispatcher;
}

/**
 * Destroys a response body that is finished with or no longer wanted. undici reports destroying an
 * unfinished body as an 'error' event; nobody listens for it any more, so it is absorbed here.
 */
export function discardBody(body: Dispatcher.ResponseData['body']): void {
  if (body.destroyed) return;
  body.on('error', ignoreError);
  body.destroy();
}

function ignoreError(): void {}

/**
 * Types a failure of the HTTP exchange with the source (before or during the body). Network-level
 * failures are retryable; a request undici refuses to send (bad argument, unsupported feature) is
 * not. The message gets the error's code (e.g. `ECONNREFUSED`), never its text.
 */
export function classifyTransportError(error: unknown, message: string, key: string, idleTimeoutMs?: number): ObjectStoreError {
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | undefined)?.cause);
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    // A source that goes quiet is treated as hostile, not as a hiccup: retrying it would hold a
    // copy slot for another idle period each time.
    return new OutputSourceStalledError({ message: `${message}: no data for ${idleTimeoutMs ?? '?'} ms (${code})`, key, limit: 'idle', limitMs: idleTimeoutMs ?? 0, cause: error });
  }
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED' || code === 'ERR_INVALID_URL') {
    return new SourceRejectedError({ message, key, cause: error });
  }
  // Refused or reset connections, DNS hiccups, undici's connect/headers/body timeouts, closed
  // sockets, and also unknown failures (TLS, parser) count as transient: the retry policy bounds them.
  return new SourceUnavailableError({ message: code === undefined ? message : `${message} (${code})`, key, cause: error });
}

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

function singleHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function parseContentLength(value: string | string[] | undefined): number | undefined {
  const text = singleHeader(value)?.trim();
  if (text === undefined || !/^\d{1,16}$/.test(text)) return undefined;
  const bytes = Number(text);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date; undefined when absent or invalid. */
export function parseRetryAfterMs(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const atMs = Date.parse(text);
  return Number.isNaN(atMs) ? undefined : Math.max(0, atMs - nowMs);
}
