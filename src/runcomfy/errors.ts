/**
 * Typed errors of the RunComfy client.
 *
 * Every failure of a client call is a {@link RunComfyError} subclass with a stable `name` and `code`,
 * chosen first by RunComfy's own `error_code` (more specific), then by HTTP status, then by the kind
 * of transport failure. The fields say what a caller needs to decide on a retry: `retryable` (is a
 * retry safe and able to succeed), `retryAfterMs` (from `Retry-After`) and, for submit,
 * `jobMayHaveBeenAccepted` (a retry could start a second paid job).
 *
 * Ambiguous submit policy (`jobMayHaveBeenAccepted`), since submit has no idempotency key:
 * - false when the request provably never left this process (DNS failure, connection refused,
 *   connect timeout, abort while still queued for a socket) or when the API answered with a refusal:
 *   any 4xx (401, 403, 404, 422, 429, ...), any response carrying a RunComfy error body
 *   (`error_code`/message, including a 2xx with `error_code`), and a bare 503 (the status an
 *   intermediary uses when it did not forward the request).
 * - true when bytes may have reached the API and its answer was lost: headers or body timeout, a
 *   connection reset/closed after the request was written, an abort after it was written, a 2xx
 *   whose body is unreadable, and a 5xx other than 503 without a parseable RunComfy error body (an
 *   HTML or empty page from a gateway that may have forwarded the job; a 504 is exactly that case).
 * For submit (and deployments.create, which is not idempotent either) `retryable` is false whenever
 * the outcome is ambiguous: the caller must look for the job before submitting again.
 */

/** Stable `code` of every error class. Values are wire names (failure types): never rename them. */
export const ERROR_CODES = {
  unauthorized: 'RUNCOMFY_UNAUTHORIZED',
  forbidden: 'RUNCOMFY_FORBIDDEN',
  notFound: 'RUNCOMFY_NOT_FOUND',
  validation: 'RUNCOMFY_VALIDATION',
  rateLimited: 'RUNCOMFY_RATE_LIMITED',
  serverError: 'RUNCOMFY_SERVER_ERROR',
  insufficientFunds: 'RUNCOMFY_INSUFFICIENT_FUNDS',
  deploymentDisabled: 'RUNCOMFY_DEPLOYMENT_DISABLED',
  deploymentDeleted: 'RUNCOMFY_DEPLOYMENT_DELETED',
  timeout: 'RUNCOMFY_TIMEOUT',
  connection: 'RUNCOMFY_CONNECTION',
  protocol: 'RUNCOMFY_PROTOCOL',
  aborted: 'RUNCOMFY_ABORTED',
  apiError: 'RUNCOMFY_API_ERROR',
} as const;

/** One of the values of {@link ERROR_CODES}. */
export type RunComfyErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** RunComfy's own numeric `error_code` values (API.md §4), as the strings this client normalises them to. */
export const RUNCOMFY_API_ERROR_CODES = {
  unauthorized: '401001',
  forbidden: '403003',
  notFound: '404001',
  validation: '422001',
  internal: '500001',
  insufficientFunds: '10001',
  deploymentDisabled: '10002',
  deploymentDeleted: '10003',
} as const;

/** Client operations, as reported in {@link RunComfyError.operation}. */
export const RUNCOMFY_OPERATIONS = {
  submit: 'submit',
  status: 'status',
  result: 'result',
  cancel: 'cancel',
  deploymentsCreate: 'deployments.create',
  deploymentsGet: 'deployments.get',
  deploymentsList: 'deployments.list',
  deploymentsUpdate: 'deployments.update',
  deploymentsDelete: 'deployments.delete',
} as const;

/** One of the values of {@link RUNCOMFY_OPERATIONS}. */
export type RunComfyOperation = (typeof RUNCOMFY_OPERATIONS)[keyof typeof RUNCOMFY_OPERATIONS];

/** Operations that may create something remotely when repeated: a blind retry can duplicate work. */
const NON_IDEMPOTENT_OPERATIONS: ReadonlySet<RunComfyOperation> = new Set<RunComfyOperation>(['submit', 'deployments.create']);

/** True for operations whose retry could create a second job or deployment. */
export function isNonIdempotentOperation(operation: RunComfyOperation): boolean {
  return NON_IDEMPOTENT_OPERATIONS.has(operation);
}

/** One entry of a validation error's `detail` list, normalised from FastAPI-style or free-form entries. */
export interface ValidationIssue {
  /** Human-readable explanation (`msg`, `message` or the entry itself when it is a string). */
  readonly message: string;
  /** Where the problem is, e.g. `["body", "overrides", "6", "inputs", "txt"]`. */
  readonly location?: readonly (string | number)[];
  /** Machine-readable kind, e.g. `"missing"` or `"value_error"`. */
  readonly type?: string;
}

/** Where a transport failure happened relative to sending the request. */
export const TRANSPORT_PHASES = {
  beforeSend: 'before-send',
  afterSend: 'after-send',
  connect: 'connect',
  headers: 'headers',
  body: 'body',
} as const;

/** One of the values of {@link TRANSPORT_PHASES}. */
export type TransportPhase = (typeof TRANSPORT_PHASES)[keyof typeof TRANSPORT_PHASES];

/** Fields common to every {@link RunComfyError}; used to construct one. */
export interface RunComfyErrorInit {
  /** Complete message; must never contain the token (the client scrubs what it did not write). */
  readonly message: string;
  readonly operation: RunComfyOperation;
  readonly retryable: boolean;
  readonly httpStatus?: number;
  readonly errorCode?: string;
  readonly requestId?: string;
  readonly deploymentId?: string;
  readonly retryAfterMs?: number;
  readonly jobMayHaveBeenAccepted?: boolean;
  readonly inSuccessResponse?: boolean;
  readonly serverMessage?: string;
  readonly cause?: unknown;
}

const RUNCOMFY_ERROR_BRAND = Symbol.for('runcomfy-pipelines.runcomfy-error');

/**
 * Base class of every error the RunComfy client throws. Catch this, then branch on `code` (stable
 * wire name) or on the subclass. Serialises safely: `toJSON()` lists the fields below and no secret.
 */
export class RunComfyError extends Error {
  /** Stable machine-readable code, one of {@link ERROR_CODES}. */
  readonly code: RunComfyErrorCode;
  /** Which client call failed. */
  readonly operation: RunComfyOperation;
  /** True when repeating the same call is safe and may succeed (honour {@link retryAfterMs} first). */
  readonly retryable: boolean;
  /** HTTP status of the response, when one arrived. */
  readonly httpStatus?: number;
  /** RunComfy's own `error_code` (e.g. `"422001"`, `"10001"`), when the body carried one. */
  readonly errorCode?: string;
  /** RunComfy request id the call was about (status/result/cancel). */
  readonly requestId?: string;
  /** Deployment id the call was about. */
  readonly deploymentId?: string;
  /** Delay the server asked for via `Retry-After`, in milliseconds. */
  readonly retryAfterMs?: number;
  /**
   * Submit only (false elsewhere): the job may exist although no usable answer arrived, so
   * submitting again could start a second paid job. See the module comment for the policy.
   */
  readonly jobMayHaveBeenAccepted: boolean;
  /** True when the error arrived as an HTTP 2xx with a top-level `error_code`. */
  readonly inSuccessResponse: boolean;
  /** The server's own message (`error_message`/`message`), scrubbed and truncated. */
  readonly serverMessage?: string;

  /** Subclasses pass their own stable code and name. */
  constructor(init: RunComfyErrorInit, code: RunComfyErrorCode = ERROR_CODES.apiError, name = 'RunComfyError') {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    // Assigned explicitly (not from constructor.name) so bundling/minification cannot change it.
    Object.defineProperty(this, 'name', { value: name, enumerable: false, configurable: true, writable: true });
    Object.defineProperty(this, RUNCOMFY_ERROR_BRAND, { value: true, enumerable: false });
    this.code = code;
    this.operation = init.operation;
    this.retryable = init.retryable;
    this.jobMayHaveBeenAccepted = init.operation === 'submit' && init.jobMayHaveBeenAccepted === true;
    this.inSuccessResponse = init.inSuccessResponse === true;
    if (init.httpStatus !== undefined) this.httpStatus = init.httpStatus;
    if (init.errorCode !== undefined) this.errorCode = init.errorCode;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    if (init.deploymentId !== undefined) this.deploymentId = init.deploymentId;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
    if (init.serverMessage !== undefined) this.serverMessage = init.serverMessage;
  }

  /** A plain, secret-free description for logs and failure details. */
  toJSON(): Record<string, unknown> {
    const json: Record<string, unknown> = {
      name: this.name,
      code: this.code,
      message: this.message,
      operation: this.operation,
      retryable: this.retryable,
      jobMayHaveBeenAccepted: this.jobMayHaveBeenAccepted,
      inSuccessResponse: this.inSuccessResponse,
    };
    for (const key of ['httpStatus', 'errorCode', 'requestId', 'deploymentId', 'retryAfterMs', 'serverMessage'] as const) {
      if (this[key] !== undefined) json[key] = this[key];
    }
    const cause: unknown = this.cause;
    if (cause instanceof Error) {
      const causeCode = (cause as { code?: unknown }).code;
      json.cause = { name: cause.name, message: cause.message, ...(typeof causeCode === 'string' ? { code: causeCode } : {}) };
    }
    return json;
  }
}

/** Missing or wrong token (HTTP 401 / `401001`). Not retryable. */
export class RunComfyUnauthorizedError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.unauthorized, 'RunComfyUnauthorizedError');
  }
}

/** The token may not touch this resource (HTTP 403 / `403003`). Not retryable. */
export class RunComfyForbiddenError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.forbidden, 'RunComfyForbiddenError');
  }
}

/** Unknown deployment or request, or a purged (expired) result (HTTP 404/410 / `404001`). Not retryable. */
export class RunComfyNotFoundError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.notFound, 'RunComfyNotFoundError');
  }
}

/** Rejected input: bad overrides, node ids, URLs or base64 (HTTP 400/422 / `422001`). Not retryable. */
export class RunComfyValidationError extends RunComfyError {
  /** The body's `detail` entries, normalised; empty when the server sent none. */
  readonly detail: readonly ValidationIssue[];

  constructor(init: RunComfyErrorInit & { readonly detail?: readonly ValidationIssue[] }) {
    super(init, ERROR_CODES.validation, 'RunComfyValidationError');
    this.detail = init.detail ?? [];
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), detail: this.detail };
  }
}

/** Too many requests (HTTP 429). Retryable after {@link RunComfyError.retryAfterMs} when given. */
export class RunComfyRateLimitedError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.rateLimited, 'RunComfyRateLimitedError');
  }
}

/** RunComfy or a gateway failed (HTTP 5xx / `500001`). Retryable, except an ambiguous submit. */
export class RunComfyServerError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.serverError, 'RunComfyServerError');
  }
}

/** The account cannot pay for the job (`10001`, or HTTP 402). Not retryable. */
export class RunComfyInsufficientFundsError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.insufficientFunds, 'RunComfyInsufficientFundsError');
  }
}

/** The deployment is disabled (`10002`). Not retryable until someone enables it. */
export class RunComfyDeploymentDisabledError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.deploymentDisabled, 'RunComfyDeploymentDisabledError');
  }
}

/** The deployment was deleted (`10003`). Not retryable. */
export class RunComfyDeploymentDeletedError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.deploymentDeleted, 'RunComfyDeploymentDeletedError');
  }
}

/** No connection, no response headers or no complete body in time. `phase` says which. */
export class RunComfyTimeoutError extends RunComfyError {
  /** `connect`, `headers` or `body`. */
  readonly phase: TransportPhase;

  constructor(init: RunComfyErrorInit & { readonly phase: TransportPhase }) {
    super(init, ERROR_CODES.timeout, 'RunComfyTimeoutError');
    this.phase = init.phase;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), phase: this.phase };
  }
}

/** The connection failed (refused, DNS, reset, closed mid-response). `phase` says if the request had been sent. */
export class RunComfyConnectionError extends RunComfyError {
  /** `before-send` (nothing reached the server) or `after-send` (it may have). */
  readonly phase: TransportPhase;

  constructor(init: RunComfyErrorInit & { readonly phase: TransportPhase }) {
    super(init, ERROR_CODES.connection, 'RunComfyConnectionError');
    this.phase = init.phase;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), phase: this.phase };
  }
}

/** The response was not what the API promises: unparseable JSON, wrong shape, invalid URL, unexpected status. */
export class RunComfyProtocolError extends RunComfyError {
  /** Schema problems as `path: message` lines (no values), when the body parsed as JSON. */
  readonly issues: readonly string[];
  /** The first characters of the body, scrubbed, to diagnose what came back. */
  readonly bodyExcerpt?: string;

  constructor(init: RunComfyErrorInit & { readonly issues?: readonly string[]; readonly bodyExcerpt?: string }) {
    super(init, ERROR_CODES.protocol, 'RunComfyProtocolError');
    this.issues = init.issues ?? [];
    if (init.bodyExcerpt !== undefined) this.bodyExcerpt = init.bodyExcerpt;
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues, ...(this.bodyExcerpt !== undefined ? { bodyExcerpt: this.bodyExcerpt } : {}) };
  }
}

/** The caller's `AbortSignal` fired. `cause` is the signal's reason. */
export class RunComfyAbortedError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.aborted, 'RunComfyAbortedError');
  }
}

/** The API answered with an error this client has no dedicated class for (e.g. 405, 409, unknown `error_code`). */
export class RunComfyApiError extends RunComfyError {
  constructor(init: RunComfyErrorInit) {
    super(init, ERROR_CODES.apiError, 'RunComfyApiError');
  }
}

/** Type guard for any error thrown by the RunComfy client (also across duplicated module copies). */
export function isRunComfyError(value: unknown): value is RunComfyError {
  if (value instanceof RunComfyError) return true;
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RUNCOMFY_ERROR_BRAND] === true;
}

/** Type guard narrowing to a RunComfy error with the given {@link ERROR_CODES} value. */
export function isRunComfyErrorWithCode<C extends RunComfyErrorCode>(value: unknown, code: C): value is RunComfyError & { readonly code: C } {
  return isRunComfyError(value) && value.code === code;
}
