/**
 * Pure mapping from what came back (an HTTP response, a 2xx body with `error_code`, a transport
 * failure) to a typed {@link RunComfyError}. Kept apart from the client so every rule is unit-testable
 * without a server. The ambiguous-submit policy is described in `errors.ts`.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  RUNCOMFY_API_ERROR_CODES,
  RunComfyAbortedError,
  RunComfyApiError,
  RunComfyConnectionError,
  RunComfyDeploymentDeletedError,
  RunComfyDeploymentDisabledError,
  RunComfyForbiddenError,
  RunComfyInsufficientFundsError,
  RunComfyNotFoundError,
  RunComfyProtocolError,
  RunComfyRateLimitedError,
  RunComfyServerError,
  RunComfyTimeoutError,
  RunComfyUnauthorizedError,
  RunComfyValidationError,
  isNonIdempotentOperation,
} from './errors.js';
import type { RunComfyError, RunComfyErrorInit, RunComfyOperation, ValidationIssue } from './errors.js';
import { redactSecret, scrubCause } from './redact.js';
import { parseRetryAfterMs } from './retry-after.js';

/** What every mapping needs to know about the call that failed. */
export interface FailedCallContext {
  readonly operation: RunComfyOperation;
  readonly deploymentId?: string;
  readonly requestId?: string;
  /** The bearer token, only so it can be scrubbed from anything that ends up in the error. */
  readonly token?: string;
  /** Clock for HTTP-date `Retry-After` values. */
  readonly nowMs?: number;
}

/** An HTTP response that is an error, with its body already read as text. */
export interface ErrorResponse {
  readonly httpStatus: number;
  readonly headers: IncomingHttpHeaders;
  readonly bodyText: string;
}

/** A RunComfy error body, normalised from its several spellings. */
export interface ParsedErrorBody {
  /** `error_code` as a digit string. */
  readonly errorCode?: string;
  /** `error_message`, `message`, `error` or a string `detail`. */
  readonly message?: string;
  /** `detail` entries (validation errors). */
  readonly detail: readonly ValidationIssue[];
  /** True when the body is a JSON object that looks like an answer from the API itself. */
  readonly isApiErrorBody: boolean;
}

const MAX_SERVER_MESSAGE_CHARS = 500;
const MAX_BODY_EXCERPT_CHARS = 200;

type ErrorClassKey =
  | 'unauthorized'
  | 'forbidden'
  | 'notFound'
  | 'validation'
  | 'rateLimited'
  | 'serverError'
  | 'insufficientFunds'
  | 'deploymentDisabled'
  | 'deploymentDeleted'
  | 'apiError';

/** Normalises an `error_code` value (number or digit string) to a digit string. */
export function normalizeApiErrorCode(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return String(value);
  if (typeof value === 'string' && /^\d+$/.test(value.trim()) && Number(value) > 0) return value.trim();
  return undefined;
}

/** Returns the `error_code` of a 2xx body that is really an error, or undefined for a normal body. */
export function errorCodeInSuccessBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  return normalizeApiErrorCode((body as Record<string, unknown>).error_code);
}

/** Parses an error response body of any of the shapes RunComfy and its gateways produce. */
export function parseErrorBody(bodyText: string): ParsedErrorBody {
  let parsed: unknown;
  try {
    parsed = bodyText.trim() === '' ? undefined : JSON.parse(bodyText);
  } catch {
    parsed = undefined;
  }
  return parseErrorObject(parsed);
}

function parseErrorObject(parsed: unknown): ParsedErrorBody {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { detail: [], isApiErrorBody: false };
  const body = parsed as Record<string, unknown>;
  const errorCode = normalizeApiErrorCode(body.error_code);
  const detail = normalizeDetail(body.detail);
  const nestedError = typeof body.error === 'object' && body.error !== null ? (body.error as Record<string, unknown>) : undefined;
  const message =
    firstString(body.error_message, body.message, typeof body.error === 'string' ? body.error : undefined, nestedError?.message, typeof body.detail === 'string' ? body.detail : undefined) ??
    (detail.length > 0 ? detail.map((issue) => issue.message).join('; ') : undefined);
  const isApiErrorBody = errorCode !== undefined || message !== undefined;
  return { ...(errorCode !== undefined ? { errorCode } : {}), ...(message !== undefined ? { message } : {}), detail, isApiErrorBody };
}

/** Normalises a `detail` value (FastAPI list, single object or string) into {@link ValidationIssue}s. */
export function normalizeDetail(detail: unknown): ValidationIssue[] {
  if (detail === undefined || detail === null) return [];
  const entries: unknown[] = Array.isArray(detail) ? detail : [detail];
  const issues: ValidationIssue[] = [];
  for (const entry of entries) {
    if (typeof entry === 'string') {
      issues.push({ message: entry });
      continue;
    }
    if (typeof entry !== 'object' || entry === null) continue;
    const record = entry as Record<string, unknown>;
    const message = firstString(record.msg, record.message, record.error) ?? safeJson(record);
    const rawLocation = Array.isArray(record.loc) ? record.loc : Array.isArray(record.path) ? record.path : undefined;
    const location = rawLocation?.filter((part): part is string | number => typeof part === 'string' || typeof part === 'number');
    issues.push({
      message,
      ...(location !== undefined ? { location } : {}),
      ...(typeof record.type === 'string' ? { type: record.type } : {}),
    });
  }
  return issues;
}

/** Maps a non-2xx HTTP response to its typed error. */
export function errorFromHttpResponse(context: FailedCallContext, response: ErrorResponse): RunComfyError {
  const body = parseErrorBody(response.bodyText);
  return buildHttpError(context, response.httpStatus, response.headers, body, false);
}

/** Maps a 2xx response whose body carries a top-level `error_code` to its typed error. */
export function errorFromSuccessBody(context: FailedCallContext, httpStatus: number, headers: IncomingHttpHeaders, body: unknown): RunComfyError {
  return buildHttpError(context, httpStatus, headers, parseErrorObject(body), true);
}

function buildHttpError(context: FailedCallContext, httpStatus: number, headers: IncomingHttpHeaders, body: ParsedErrorBody, inSuccessResponse: boolean): RunComfyError {
  const key = (body.errorCode !== undefined ? keyForApiErrorCode(body.errorCode) : undefined) ?? (inSuccessResponse ? 'apiError' : keyForHttpStatus(httpStatus));
  // Only a refusal proves a submit was not accepted (4xx, 429, 503 Service Unavailable). A 500 with
  // RunComfy's JSON error body (500001 "internal") says something broke, not where: the job may exist.
  const ambiguous = !inSuccessResponse && httpStatus >= 500 && httpStatus !== 503;
  const serverMessage = body.message !== undefined ? truncate(redactSecret(body.message, context.token), MAX_SERVER_MESSAGE_CHARS) : undefined;
  const retryAfterMs = parseRetryAfterMs(headers['retry-after'], context.nowMs);
  const retryable = baseRetryable(key, httpStatus) && !(ambiguous && isNonIdempotentOperation(context.operation));
  const what = `${inSuccessResponse ? `HTTP ${httpStatus} carrying an error` : `HTTP ${httpStatus}`}${body.errorCode !== undefined ? ` (error_code ${body.errorCode})` : ''}`;
  const init: RunComfyErrorInit = {
    message: describe(context, `${what}${serverMessage !== undefined ? `: ${serverMessage}` : ''}`),
    operation: context.operation,
    retryable,
    httpStatus,
    jobMayHaveBeenAccepted: ambiguous,
    inSuccessResponse,
    ...idFields(context),
    ...(body.errorCode !== undefined ? { errorCode: body.errorCode } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    ...(serverMessage !== undefined ? { serverMessage } : {}),
  };
  switch (key) {
    case 'unauthorized':
      return new RunComfyUnauthorizedError(init);
    case 'forbidden':
      return new RunComfyForbiddenError(init);
    case 'notFound':
      return new RunComfyNotFoundError(init);
    case 'validation':
      return new RunComfyValidationError({ ...init, detail: body.detail });
    case 'rateLimited':
      return new RunComfyRateLimitedError(init);
    case 'serverError':
      return new RunComfyServerError(init);
    case 'insufficientFunds':
      return new RunComfyInsufficientFundsError(init);
    case 'deploymentDisabled':
      return new RunComfyDeploymentDisabledError(init);
    case 'deploymentDeleted':
      return new RunComfyDeploymentDeletedError(init);
    case 'apiError':
      return new RunComfyApiError(init);
  }
}

function keyForApiErrorCode(errorCode: string): ErrorClassKey | undefined {
  switch (errorCode) {
    case RUNCOMFY_API_ERROR_CODES.unauthorized:
      return 'unauthorized';
    case RUNCOMFY_API_ERROR_CODES.forbidden:
      return 'forbidden';
    case RUNCOMFY_API_ERROR_CODES.notFound:
      return 'notFound';
    case RUNCOMFY_API_ERROR_CODES.validation:
      return 'validation';
    case RUNCOMFY_API_ERROR_CODES.internal:
      return 'serverError';
    case RUNCOMFY_API_ERROR_CODES.insufficientFunds:
      return 'insufficientFunds';
    case RUNCOMFY_API_ERROR_CODES.deploymentDisabled:
      return 'deploymentDisabled';
    case RUNCOMFY_API_ERROR_CODES.deploymentDeleted:
      return 'deploymentDeleted';
  }
  // RunComfy's six-digit codes start with the HTTP status they belong to (401001, 422001, ...), so an
  // unlisted one still lands in the right family.
  if (/^[1-5]\d{5}$/.test(errorCode)) {
    const key = keyForHttpStatus(Number(errorCode.slice(0, 3)));
    return key === 'apiError' ? undefined : key;
  }
  return undefined;
}

function keyForHttpStatus(httpStatus: number): ErrorClassKey {
  if (httpStatus === 400 || httpStatus === 422) return 'validation';
  if (httpStatus === 401) return 'unauthorized';
  if (httpStatus === 402) return 'insufficientFunds';
  if (httpStatus === 403) return 'forbidden';
  if (httpStatus === 404 || httpStatus === 410) return 'notFound';
  if (httpStatus === 429) return 'rateLimited';
  if (httpStatus >= 500 && httpStatus <= 599) return 'serverError';
  return 'apiError';
}

function baseRetryable(key: ErrorClassKey, httpStatus: number): boolean {
  if (key === 'rateLimited' || key === 'serverError') return true;
  // 408 Request Timeout and 425 Too Early say "send it again"; every other unmapped status will not change.
  if (key === 'apiError') return httpStatus === 408 || httpStatus === 425;
  return false;
}

/** What happened to a call that did not produce a readable response. */
export interface TransportFailure {
  /** The error undici (or the body reader) threw. */
  readonly error: unknown;
  /** The request had been handed to a connected socket: bytes may have reached the server. */
  readonly requestStarted: boolean;
  /** Status of the response, when its headers had arrived before the failure. */
  readonly responseStatus?: number;
  /** The caller's AbortSignal had fired. */
  readonly callerAborted: boolean;
}

const TIMEOUT_ERROR_CODES: ReadonlySet<string> = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Maps a transport failure (timeout, connection problem, parser error, abort) to its typed error. */
export function errorFromTransportFailure(context: FailedCallContext, failure: TransportFailure): RunComfyError {
  const causeCode = errorCodeOf(failure.error);
  const ambiguous = failure.requestStarted && (failure.responseStatus === undefined || isAmbiguousForLostBody(failure.responseStatus));
  const retryable = !(ambiguous && isNonIdempotentOperation(context.operation));
  const cause = scrubCause(failure.error, context.token);
  const common = {
    operation: context.operation,
    retryable,
    jobMayHaveBeenAccepted: ambiguous,
    cause,
    ...idFields(context),
    ...(failure.responseStatus !== undefined ? { httpStatus: failure.responseStatus } : {}),
  };
  const codeSuffix = causeCode !== undefined ? ` (${causeCode})` : '';

  if (failure.callerAborted) {
    const when = failure.requestStarted ? 'after the request was sent' : 'before the request was sent';
    return new RunComfyAbortedError({ ...common, message: describe(context, `aborted by the caller ${when}`) });
  }
  if (causeCode !== undefined && TIMEOUT_ERROR_CODES.has(causeCode)) {
    const phase = causeCode === 'UND_ERR_BODY_TIMEOUT' ? 'body' : causeCode === 'UND_ERR_HEADERS_TIMEOUT' || failure.requestStarted ? 'headers' : 'connect';
    const waitingFor = phase === 'connect' ? 'a connection' : phase === 'headers' ? 'response headers' : 'the response body';
    return new RunComfyTimeoutError({ ...common, phase, message: describe(context, `timed out waiting for ${waitingFor}${codeSuffix}`) });
  }
  if (causeCode?.startsWith('HPE_')) {
    return new RunComfyProtocolError({ ...common, message: describe(context, `unparseable HTTP response${codeSuffix}`) });
  }
  const phase = failure.requestStarted ? 'after-send' : 'before-send';
  const when = failure.requestStarted ? (failure.responseStatus !== undefined ? 'while reading the response' : 'after the request was sent') : 'before the request was sent';
  return new RunComfyConnectionError({ ...common, phase, message: describe(context, `connection failed ${when}${codeSuffix}`) });
}

/** Options of {@link protocolErrorFor}. */
export interface ProtocolProblem {
  readonly httpStatus: number;
  /** What was wrong, for the message (no values from the body). */
  readonly problem: string;
  readonly bodyText?: string;
  readonly issues?: readonly string[];
  readonly cause?: unknown;
}

/**
 * A typed error for a response that arrived but is not what the API promises. For a 2xx on submit the
 * job probably exists although its id is unreadable, so the outcome counts as ambiguous.
 */
export function protocolErrorFor(context: FailedCallContext, problem: ProtocolProblem): RunComfyProtocolError {
  const ambiguous = isAmbiguousForLostBody(problem.httpStatus);
  const bodyExcerpt = problem.bodyText !== undefined ? truncate(redactSecret(problem.bodyText, context.token), MAX_BODY_EXCERPT_CHARS) : undefined;
  return new RunComfyProtocolError({
    message: describe(context, `HTTP ${problem.httpStatus} with ${problem.problem}`),
    operation: context.operation,
    retryable: !(ambiguous && isNonIdempotentOperation(context.operation)),
    httpStatus: problem.httpStatus,
    jobMayHaveBeenAccepted: ambiguous,
    ...idFields(context),
    ...(problem.issues !== undefined ? { issues: problem.issues } : {}),
    ...(bodyExcerpt !== undefined ? { bodyExcerpt } : {}),
    ...(problem.cause !== undefined ? { cause: scrubCause(problem.cause, context.token) } : {}),
  });
}

// A response whose body is lost or unreadable: a 2xx means the job was accepted; a 5xx other than 503
// may come from a gateway that forwarded the job; a 4xx (and 503) is a refusal.
function isAmbiguousForLostBody(httpStatus: number): boolean {
  if (httpStatus >= 200 && httpStatus < 300) return true;
  return httpStatus >= 500 && httpStatus !== 503;
}

function describe(context: FailedCallContext, what: string): string {
  const about = [context.deploymentId !== undefined ? `deployment ${context.deploymentId}` : undefined, context.requestId !== undefined ? `request ${context.requestId}` : undefined]
    .filter((part) => part !== undefined)
    .join(', ');
  return redactSecret(`RunComfy ${context.operation} failed${about !== '' ? ` (${about})` : ''}: ${what}`, context.token);
}

function idFields(context: FailedCallContext): { deploymentId?: string; requestId?: string } {
  return {
    ...(context.deploymentId !== undefined ? { deploymentId: context.deploymentId } : {}),
    ...(context.requestId !== undefined ? { requestId: context.requestId } : {}),
  };
}

function errorCodeOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  // Node wraps some connect failures (e.g. happy-eyeballs) in an AggregateError whose members carry the code.
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const innerCode = errorCodeOf(inner);
      if (innerCode !== undefined) return innerCode;
    }
  }
  return undefined;
}

function firstString(...values: unknown[]): string | undefined {
  for (const value of values) if (typeof value === 'string' && value.trim() !== '') return value;
  return undefined;
}

function safeJson(value: unknown): string {
  try {
    return truncate(JSON.stringify(value), MAX_SERVER_MESSAGE_CHARS);
  } catch {
    return 'unreadable detail entry';
  }
}

function truncate(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}…`;
}
