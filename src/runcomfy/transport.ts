/**
 * The one HTTP path of the RunComfy client: bearer auth, a per-call signal, a bounded body, and
 * every answer checked (status, JSON, error codes in 2xx bodies, zod shape) into a value or a
 * `RunComfyError`. The resources (`inference.ts`, `deployments.ts`) describe calls; this runs them.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { errorCodeInSuccessBody, errorFromHttpResponse, errorFromSuccessBody, errorFromTransportFailure, protocolErrorFor } from './error-mapping.js';
import type { FailedCallContext } from './error-mapping.js';
import { RunComfyValidationError } from './errors.js';
import type { RunComfyOperation } from './errors.js';
import { performHttpExchange } from './http-exchange.js';
import { describeIssues, ResponseShapeError } from './schemas.js';

export interface CallSpec<S extends z.ZodType, T> {
  readonly operation: RunComfyOperation;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly body?: unknown;
  readonly signal: AbortSignal | undefined;
  readonly deploymentId?: string;
  readonly requestId?: string;
  /** Not idempotent: must not ride on a reused keep-alive socket (see `createRunComfyDispatcher`). */
  readonly freshConnection?: boolean;
  /** An empty 2xx body is acceptable (parsed as `{}`). */
  readonly allowEmptyBody?: boolean;
  readonly schema: S;
  readonly convert: (parsed: z.output<S>, httpStatus: number) => T;
}

export interface RunComfyTransportSettings {
  readonly baseUrl: string;
  readonly token: string;
  readonly dispatcher: Dispatcher;
  readonly headersTimeoutMs: number | undefined;
  readonly bodyTimeoutMs: number | undefined;
  readonly userAgent: string;
  readonly maxResponseBytes: number;
}

export class RunComfyTransport {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #dispatcher: Dispatcher;
  readonly #headersTimeoutMs: number | undefined;
  readonly #bodyTimeoutMs: number | undefined;
  readonly #userAgent: string;
  readonly #maxResponseBytes: number;

  constructor(settings: RunComfyTransportSettings) {
    this.baseUrl = settings.baseUrl;
    this.#token = settings.token;
    this.#dispatcher = settings.dispatcher;
    this.#headersTimeoutMs = settings.headersTimeoutMs;
    this.#bodyTimeoutMs = settings.bodyTimeoutMs;
    this.#userAgent = settings.userAgent;
    this.#maxResponseBytes = settings.maxResponseBytes;
  }

  /** Secret-free: the transport holds the token, so it must never be serialised as is. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, token: '[redacted]' };
  }

  async call<S extends z.ZodType, T>(spec: CallSpec<S, T>): Promise<T> {
    const context: FailedCallContext = {
      operation: spec.operation,
      token: this.#token,
      ...(spec.deploymentId !== undefined ? { deploymentId: spec.deploymentId } : {}),
      ...(spec.requestId !== undefined ? { requestId: spec.requestId } : {}),
    };
    if (spec.signal?.aborted === true) {
      throw errorFromTransportFailure(context, { error: spec.signal.reason, requestStarted: false, callerAborted: true });
    }
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
    if (spec.body !== undefined) headers['content-type'] = 'application/json';

    const outcome = await performHttpExchange({
      method: spec.method,
      url: spec.url,
      headers,
      ...(spec.body !== undefined ? { body: JSON.stringify(spec.body) } : {}),
      ...(spec.signal !== undefined ? { signal: spec.signal } : {}),
      ...(this.#headersTimeoutMs !== undefined ? { headersTimeoutMs: this.#headersTimeoutMs } : {}),
      ...(this.#bodyTimeoutMs !== undefined ? { bodyTimeoutMs: this.#bodyTimeoutMs } : {}),
      ...(spec.freshConnection === true ? { freshConnection: true } : {}),
      dispatcher: this.#dispatcher,
      maxResponseBytes: this.#maxResponseBytes,
    });

    if (outcome.kind === 'failure') {
      throw errorFromTransportFailure({ ...context, nowMs: Date.now() }, outcome);
    }
    if (outcome.kind === 'body-too-large') {
      throw protocolErrorFor(context, { httpStatus: outcome.httpStatus, problem: `a body larger than ${this.#maxResponseBytes} bytes` });
    }
    const { httpStatus, headers: responseHeaders, bodyText } = outcome;
    if (httpStatus >= 400) {
      throw errorFromHttpResponse({ ...context, nowMs: Date.now() }, { httpStatus, headers: responseHeaders, bodyText });
    }
    if (httpStatus < 200 || httpStatus >= 300) {
      throw protocolErrorFor(context, { httpStatus, problem: 'an unexpected status', bodyText });
    }
    return this.#parseSuccess(spec, context, httpStatus, responseHeaders, bodyText);
  }

  #parseSuccess<S extends z.ZodType, T>(spec: CallSpec<S, T>, context: FailedCallContext, httpStatus: number, headers: IncomingHttpHeaders, bodyText: string): T {
    let json: unknown;
    if (bodyText.trim() === '') {
      if (spec.allowEmptyBody !== true) throw protocolErrorFor(context, { httpStatus, problem: 'an empty body' });
      json = {};
    } else {
      try {
        json = JSON.parse(bodyText);
      } catch (cause) {
        throw protocolErrorFor(context, { httpStatus, problem: 'a body that is not JSON', bodyText, cause });
      }
    }
    if (errorCodeInSuccessBody(json) !== undefined) {
      throw errorFromSuccessBody({ ...context, nowMs: Date.now() }, httpStatus, headers, json);
    }
    const parsed = spec.schema.safeParse(json);
    if (!parsed.success) {
      throw protocolErrorFor(context, { httpStatus, problem: 'a body of the wrong shape', bodyText, issues: describeIssues(parsed.error), cause: parsed.error });
    }
    try {
      return spec.convert(parsed.data, httpStatus);
    } catch (error) {
      if (error instanceof ResponseShapeError) {
        throw protocolErrorFor(context, { httpStatus, problem: 'a body of the wrong shape', bodyText, issues: error.issues, cause: error });
      }
      throw error;
    }
  }
}

export function requireId(operation: RunComfyOperation, name: string, value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new RunComfyValidationError({ message: `RunComfy ${operation} failed: ${name} must be a non-empty string`, operation, retryable: false });
  }
}

