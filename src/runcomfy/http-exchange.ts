/**
 * One HTTP request/response exchange over undici, reporting how far it got.
 *
 * Knowing whether the request reached a socket is what separates "the job cannot exist" from "the job
 * may exist" when a submit fails, so each exchange runs through a small interceptor that records when
 * undici starts writing the request and when response headers arrive. The response body is always
 * consumed or destroyed: an unread undici body pins its socket.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import { request } from 'undici';
import type { Dispatcher } from 'undici';

/** Everything needed to perform one exchange. */
export interface HttpExchangeRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  readonly dispatcher: Dispatcher;
  /** Per-request override of the dispatcher's headers timeout. */
  readonly headersTimeoutMs?: number;
  /** Per-request override of the dispatcher's body timeout. */
  readonly bodyTimeoutMs?: number;
  /**
   * Not on a reused keep-alive socket: sent with `Connection: close`, and the project's dispatcher
   * opens a new connection for it (see `createRunComfyDispatcher`). For non-idempotent requests.
   */
  readonly freshConnection?: boolean;
  /** Bodies above this size are refused (the socket is destroyed, not drained). */
  readonly maxResponseBytes: number;
}

/** How an exchange ended. */
export type HttpExchangeOutcome =
  | { readonly kind: 'response'; readonly httpStatus: number; readonly headers: IncomingHttpHeaders; readonly bodyText: string }
  | { readonly kind: 'body-too-large'; readonly httpStatus: number; readonly headers: IncomingHttpHeaders }
  | {
      readonly kind: 'failure';
      readonly error: unknown;
      /** undici had begun writing the request to a connected socket. */
      readonly requestStarted: boolean;
      /** Status of the response when its headers had arrived before the failure. */
      readonly responseStatus?: number;
      /** The caller's signal had fired. */
      readonly callerAborted: boolean;
    };

interface ExchangeProgress {
  requestStarted: boolean;
  responseStatus: number | undefined;
}

/** Performs the exchange. Never throws: every failure is returned as `kind: 'failure'`. */
export async function performHttpExchange(exchange: HttpExchangeRequest): Promise<HttpExchangeOutcome> {
  const progress: ExchangeProgress = { requestStarted: false, responseStatus: undefined };
  const failure = (error: unknown): HttpExchangeOutcome => ({
    kind: 'failure',
    error,
    requestStarted: progress.requestStarted,
    ...(progress.responseStatus !== undefined ? { responseStatus: progress.responseStatus } : {}),
    callerAborted: exchange.signal?.aborted === true,
  });

  const pending = request(exchange.url, {
    method: exchange.method,
    headers: exchange.headers,
    ...(exchange.body !== undefined ? { body: exchange.body } : {}),
    ...(exchange.signal !== undefined ? { signal: exchange.signal } : {}),
    ...(exchange.headersTimeoutMs !== undefined ? { headersTimeout: exchange.headersTimeoutMs } : {}),
    ...(exchange.bodyTimeoutMs !== undefined ? { bodyTimeout: exchange.bodyTimeoutMs } : {}),
    ...(exchange.freshConnection === true ? { reset: true } : {}),
    dispatcher: exchange.dispatcher.compose(progressInterceptor(progress)),
  });
  let response: Dispatcher.ResponseData | typeof ABANDONED;
  const stopWatchingQueue = new AbortController();
  try {
    response = await Promise.race([pending, abandonWhileQueued(exchange.signal, progress, stopWatchingQueue.signal)]);
  } catch (error) {
    return failure(error);
  } finally {
    stopWatchingQueue.abort();
  }
  if (response === ABANDONED) {
    // undici keeps an aborted request in its queue until a socket frees up and only then drops it,
    // unwritten. The caller need not wait for that; the late settlement is consumed here.
    pending.then((late) => discard(late.body), () => undefined);
    return failure(exchange.signal?.reason);
  }

  const body = response.body;
  progress.responseStatus = response.statusCode;
  const declaredBytes = Number(response.headers['content-length']);
  if (Number.isFinite(declaredBytes) && declaredBytes > exchange.maxResponseBytes) {
    discard(body);
    return { kind: 'body-too-large', httpStatus: response.statusCode, headers: response.headers };
  }
  const chunks: Buffer[] = [];
  let receivedBytes = 0;
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      receivedBytes += buffer.length;
      if (receivedBytes > exchange.maxResponseBytes) {
        discard(body);
        return { kind: 'body-too-large', httpStatus: response.statusCode, headers: response.headers };
      }
      chunks.push(buffer);
    }
  } catch (error) {
    discard(body);
    return failure(error);
  }
  return { kind: 'response', httpStatus: response.statusCode, headers: response.headers, bodyText: Buffer.concat(chunks).toString('utf8') };
}

// Destroying an unfinished undici body emits an 'error' (RequestAbortedError); nobody reads it any more,
// so it is swallowed rather than left to crash the process as an unhandled stream error.
function discard(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

const ABANDONED = Symbol('abandoned while queued');

// Resolves when the caller aborts while the request still waits for a socket (nothing sent yet);
// never settles otherwise. Once the request is on a socket undici's own abort handling takes over.
function abandonWhileQueued(signal: AbortSignal | undefined, progress: ExchangeProgress, stop: AbortSignal): Promise<typeof ABANDONED> {
  return new Promise((resolve) => {
    if (signal === undefined) return;
    const onAbort = (): void => {
      if (!progress.requestStarted) resolve(ABANDONED);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stop.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
  });
}

function progressInterceptor(progress: ExchangeProgress): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => dispatch(options, new ProgressRecordingHandler(handler, progress));
}

/** Forwards every callback unchanged, noting the two moments the ambiguity policy needs. */
class ProgressRecordingHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler;
  readonly #progress: ExchangeProgress;

  constructor(inner: Dispatcher.DispatchHandler, progress: ExchangeProgress) {
    this.#inner = inner;
    this.#progress = progress;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#inner.onRequestStart?.(controller, context);
    // undici calls this once a connected socket is about to receive the request: before it, nothing was
    // sent. An abort that came while the request waited for a socket is applied right here, and such a
    // request is never written.
    if (!controller.aborted) this.#progress.requestStarted = true;
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, statusMessage?: string): void {
    if (statusCode >= 200) this.#progress.responseStatus = statusCode;
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.#inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, error: Error): void {
    this.#inner.onResponseError?.(controller, error);
  }
}
