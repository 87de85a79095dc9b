import { getGlobalDispatcher, interceptors, request } from 'undici';
import type { Dispatcher } from 'undici';
import { SourceNotFoundError, SourceRejectedError, SourceUnavailableError } from './errors.js';
import type { ObjectStoreError } from './errors.js';
import { abortedError } from './stream-meter.js';

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
  dispatcher?: Dispatcher;
  maxRedirections: number;
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

/**
 * Sends the GET and checks the status. Resolves once the headers of a 200 arrived; everything else
 * becomes a typed error (the body of a failed response is discarded, so no socket leaks).
 */
export async function openSource(options: OpenSourceOptions): Promise<OpenedSource> {
  const { key, signal } = options;
  const description = describeSourceUrl(options.sourceUrl);
  let url: URL;
  try {
    url = new URL(options.sourceUrl);
  } catch (error) {
    throw new SourceRejectedError({ message: `the source URL for "${key}" is not a valid URL`, key, cause: error });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SourceRejectedError({ message: `the source URL for "${key}" must be http(s), not ${url.protocol}`, key });
  }
  if (signal.aborted) throw abortedError(key, signal);

  const dispatcher = (options.dispatcher ?? getGlobalDispatcher()).compose(interceptors.redirect({ maxRedirections: options.maxRedirections }));
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: 'GET',
      dispatcher,
      signal,
      // Bytes are stored exactly as served: no transparent compression in between.
      headers: { 'accept-encoding': 'identity' },
    });
  } catch (error) {
    if (signal.aborted) throw abortedError(key, signal);
    throw classifyTransportError(error, `downloading ${description} for "${key}" failed`, key);
  }

  const { statusCode, headers, body } = response;
  if (statusCode === 200) {
    return { body, announcedBytes: parseContentLength(headers['content-length']), contentType: singleHeader(headers['content-type']) };
  }
  // Nothing of a refused download is needed; destroying frees the socket at once.
  discardBody(body);
  const message = `${description} answered HTTP ${statusCode} for "${key}"`;
  if (statusCode === 404 || statusCode === 410) throw new SourceNotFoundError({ message, key, httpStatus: statusCode });
  if (statusCode === 408 || statusCode === 429 || statusCode >= 500) {
    const retryAfterMs = parseRetryAfterMs(singleHeader(headers['retry-after']));
    throw new SourceUnavailableError({ message, key, httpStatus: statusCode, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) });
  }
  // Other 4xx, 1xx/2xx other than 200 (a 206 would be a fragment), and a 3xx left after the
  // redirect limit: asking again gives the same answer.
  throw new SourceRejectedError({ message: statusCode >= 300 && statusCode < 400 ? `${message} (redirect not followed)` : message, key, httpStatus: statusCode });
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
export function classifyTransportError(error: unknown, message: string, key: string): ObjectStoreError {
  const code = errorCode(error) ?? errorCode((error as { cause?: unknown } | undefined)?.cause);
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
