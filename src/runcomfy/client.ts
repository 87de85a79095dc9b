import type { IncomingHttpHeaders } from 'node:http';
import { inspect } from 'node:util';
import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { createRunComfyDispatcher } from './dispatcher.js';
import { errorCodeInSuccessBody, errorFromHttpResponse, errorFromSuccessBody, errorFromTransportFailure, protocolErrorFor } from './error-mapping.js';
import type { FailedCallContext } from './error-mapping.js';
import { RunComfyValidationError } from './errors.js';
import type { RunComfyOperation } from './errors.js';
import { performHttpExchange } from './http-exchange.js';
import {
  ResponseShapeError,
  cancelResponseSchema,
  deploymentListResponseSchema,
  describeIssues,
  resultResponseSchema,
  singleDeploymentResponseSchema,
  statusResponseSchema,
  submitResponseSchema,
  toCancelResult,
  toDeployment,
  toJobResult,
  toJobStatus,
  toSubmittedJob,
} from './schemas.js';
import type { CancelResult, Deployment, HardwareSku, JobResult, JobStatus, SubmittedJob, WorkflowApiJson, WorkflowOverrides } from './schemas.js';

/** Path prefix of the inference (queue) endpoints: RunComfy documents v1, newer pages and its CLI use v2. */
export const INFERENCE_API_VERSIONS = { v1: 'v1', v2: 'v2' } as const;

/** One of the values of {@link INFERENCE_API_VERSIONS}. */
export type InferenceApiVersion = (typeof INFERENCE_API_VERSIONS)[keyof typeof INFERENCE_API_VERSIONS];

/** Timeouts of the client's own dispatcher, in milliseconds. */
export interface RunComfyClientTimeouts {
  /** Connection establishment; only applies when the client creates its own dispatcher. */
  readonly connectMs?: number;
  /** Until the response headers are complete; applied per request, so also with an injected dispatcher. */
  readonly headersMs?: number;
  /** Longest gap between body chunks; applied per request, so also with an injected dispatcher. */
  readonly bodyMs?: number;
}

/** Construction options of {@link RunComfyClient}. */
export interface RunComfyClientOptions {
  /** Origin (and optional path prefix) of the API, e.g. `https://api.runcomfy.net` or the emulator's URL. */
  readonly baseUrl: string;
  /** Bearer token. Kept in a private field; never logged, serialised or put in an error. */
  readonly token: string;
  /** Inference path prefix, `v1` (default) or `v2`. Deployment management always uses v2. */
  readonly inferenceApiVersion?: InferenceApiVersion;
  /**
   * Shared undici dispatcher (see `createRunComfyDispatcher`). When given, the caller owns it and
   * `close()` leaves it open; otherwise the client creates one from `timeouts` and closes it.
   */
  readonly dispatcher?: Dispatcher;
  readonly timeouts?: RunComfyClientTimeouts;
  /** `User-Agent` header value. */
  readonly userAgent?: string;
  /** Largest response body accepted, in bytes (deployment lists with payloads can be large). Default 32 MiB. */
  readonly maxResponseBytes?: number;
}

/** Options accepted by every call. */
export interface RunComfyCallOptions {
  /** Aborts the call; the client then throws `RunComfyAbortedError`. */
  readonly signal?: AbortSignal;
}

/** Where a job's webhook events go. The URL must be https for the real API (http is accepted for local tests). */
export interface WebhookTarget {
  readonly url: string;
  /** Also deliver `in_queue` / `in_progress` events. */
  readonly intermediateStatus?: boolean;
  /** `query` (default, documented) or `body` (legacy form of the same two fields). */
  readonly placement?: 'query' | 'body';
}

/** What to run. With nothing set the deployment's stored workflow runs unchanged. */
export interface SubmitJobInput {
  /** Node-input overrides merged into the stored workflow. Node ids are strings, possibly compound (`"68:8"`). */
  readonly overrides?: WorkflowOverrides;
  /** A whole graph to run instead of the stored one. */
  readonly workflowApiJson?: WorkflowApiJson;
  /** Passed through as `extra_data` (e.g. `api_key_comfy_org` for ComfyUI API nodes). */
  readonly extraData?: Readonly<Record<string, unknown>>;
  readonly webhook?: WebhookTarget;
}

/** The three absolute URLs of a request; equal to those a submit response carries. */
export interface RequestUrls {
  readonly statusUrl: string;
  readonly resultUrl: string;
  readonly cancelUrl: string;
}

/** Extra parts of a deployment to include. */
export type DeploymentInclude = 'payload' | 'readme';

/** Query of `getDeployment`. */
export interface GetDeploymentQuery {
  readonly includes?: readonly DeploymentInclude[];
}

/** Query of `listDeployments`. */
export interface ListDeploymentsQuery {
  /** Only these deployment ids. */
  readonly ids?: readonly string[];
  readonly includes?: readonly DeploymentInclude[];
}

/** Body of `createDeployment`; every field is required by the API. */
export interface CreateDeploymentInput {
  readonly name: string;
  readonly workflowId: string;
  readonly workflowVersion: string;
  /** One GPU SKU; sent as the one-element list the API expects. */
  readonly hardware: HardwareSku;
  readonly minInstances: number;
  readonly maxInstances: number;
  readonly queueSize: number;
  readonly keepWarmDurationSeconds: number;
}

/** Body of `updateDeployment`. The API rejects an update without `name`. */
export interface UpdateDeploymentInput {
  readonly name: string;
  readonly hardware?: HardwareSku;
  readonly minInstances?: number;
  readonly maxInstances?: number;
  readonly queueSize?: number;
  readonly keepWarmDurationSeconds?: number;
  readonly isEnabled?: boolean;
  readonly workflowId?: string;
  readonly workflowVersion?: string;
}

const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const DEFAULT_USER_AGENT = 'runcomfy-pipelines/0.1';
const ignoredBodySchema = z.unknown();

interface CallSpec<S extends z.ZodType, T> {
  readonly operation: RunComfyOperation;
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly body?: unknown;
  readonly signal: AbortSignal | undefined;
  readonly deploymentId?: string;
  readonly requestId?: string;
  /** An empty 2xx body is acceptable (parsed as `{}`). */
  readonly allowEmptyBody?: boolean;
  readonly schema: S;
  readonly convert: (parsed: z.output<S>, httpStatus: number) => T;
}

/**
 * Typed client of RunComfy's serverless API: one method per endpoint, one HTTP call per method,
 * no retries (those belong to the caller's retry policy), an `AbortSignal` on every call, every
 * response checked with zod and every failure thrown as a `RunComfyError` subclass.
 *
 * Status, result and cancel take the deployment and request ids and build the same absolute URLs a
 * submit response carries (see {@link RunComfyClient.requestUrls}); the client never sends its token
 * to a URL it did not build from `baseUrl`.
 */
export class RunComfyClient {
  /** Normalised base URL (no trailing slash). */
  readonly baseUrl: string;
  /** Inference path prefix in use. */
  readonly inferenceApiVersion: InferenceApiVersion;
  readonly #token: string;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #headersTimeoutMs: number | undefined;
  readonly #bodyTimeoutMs: number | undefined;
  readonly #userAgent: string;
  readonly #maxResponseBytes: number;

  constructor(options: RunComfyClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    if (typeof options.token !== 'string' || options.token.trim() === '' || /[\r\n]/.test(options.token)) {
      throw new TypeError('RunComfyClient: token must be a non-empty single-line string');
    }
    const version = options.inferenceApiVersion ?? 'v1';
    if (version !== 'v1' && version !== 'v2') throw new TypeError("RunComfyClient: inferenceApiVersion must be 'v1' or 'v2'");
    this.inferenceApiVersion = version;
    this.#token = options.token;
    this.#headersTimeoutMs = options.timeouts?.headersMs;
    this.#bodyTimeoutMs = options.timeouts?.bodyMs;
    this.#userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    if (options.dispatcher !== undefined) {
      this.#dispatcher = options.dispatcher;
      this.#ownsDispatcher = false;
    } else {
      this.#dispatcher = createRunComfyDispatcher({
        ...(options.timeouts?.connectMs !== undefined ? { connectTimeoutMs: options.timeouts.connectMs } : {}),
        ...(options.timeouts?.headersMs !== undefined ? { headersTimeoutMs: options.timeouts.headersMs } : {}),
        ...(options.timeouts?.bodyMs !== undefined ? { bodyTimeoutMs: options.timeouts.bodyMs } : {}),
      });
      this.#ownsDispatcher = true;
    }
  }

  /** The absolute status/result/cancel URLs of a request, as the submit response gives them. */
  requestUrls(deploymentId: string, requestId: string): RequestUrls {
    const base = `${this.#inferenceDeploymentUrl(deploymentId)}/requests/${encodeURIComponent(requestId)}`;
    return { statusUrl: `${base}/status`, resultUrl: `${base}/result`, cancelUrl: `${base}/cancel` };
  }

  /**
   * Submits a job (`POST .../deployments/{id}/inference`). Not idempotent: when it throws with
   * `jobMayHaveBeenAccepted: true` the job may be running; do not blindly submit again.
   */
  async submit(deploymentId: string, input: SubmitJobInput = {}, options: RunComfyCallOptions = {}): Promise<SubmittedJob> {
    const operation = 'submit';
    requireId(operation, 'deploymentId', deploymentId);
    const url = new URL(`${this.#inferenceDeploymentUrl(deploymentId)}/inference`);
    const body: Record<string, unknown> = {};
    if (input.overrides !== undefined) body.overrides = input.overrides;
    if (input.workflowApiJson !== undefined) body.workflow_api_json = input.workflowApiJson;
    if (input.extraData !== undefined) body.extra_data = input.extraData;
    if (input.webhook !== undefined) {
      const webhookUrl = checkWebhookUrl(input.webhook.url, deploymentId);
      if (input.webhook.placement === 'body') {
        body.webhook = webhookUrl;
        if (input.webhook.intermediateStatus !== undefined) body.webhook_intermediate_status = input.webhook.intermediateStatus;
      } else {
        url.searchParams.set('webhook', webhookUrl);
        if (input.webhook.intermediateStatus !== undefined) url.searchParams.set('webhook_intermediate_status', String(input.webhook.intermediateStatus));
      }
    }
    return this.#call({
      operation,
      method: 'POST',
      url: url.toString(),
      body,
      signal: options.signal,
      deploymentId,
      schema: submitResponseSchema,
      convert: (parsed, httpStatus) => toSubmittedJob(parsed, httpStatus, this.requestUrls(deploymentId, parsed.request_id)),
    });
  }

  /** Reads a job's queue state (`GET .../requests/{r}/status`). */
  async getStatus(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<JobStatus> {
    const operation = 'status';
    requireId(operation, 'deploymentId', deploymentId);
    requireId(operation, 'requestId', requestId);
    return this.#call({
      operation,
      method: 'GET',
      url: this.requestUrls(deploymentId, requestId).statusUrl,
      signal: options.signal,
      deploymentId,
      requestId,
      schema: statusResponseSchema,
      convert: (parsed) => toJobStatus(parsed, requestId),
    });
  }

  /**
   * Reads a job's result (`GET .../requests/{r}/result`). A failed job is returned (status `failed`,
   * `failure` set), not thrown. An expired result answers 404 → `RunComfyNotFoundError`.
   */
  async getResult(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<JobResult> {
    const operation = 'result';
    requireId(operation, 'deploymentId', deploymentId);
    requireId(operation, 'requestId', requestId);
    return this.#call({
      operation,
      method: 'GET',
      url: this.requestUrls(deploymentId, requestId).resultUrl,
      signal: options.signal,
      deploymentId,
      requestId,
      schema: resultResponseSchema,
      convert: (parsed) => toJobResult(parsed, requestId),
    });
  }

  /**
   * Asks RunComfy to cancel a job (`POST .../requests/{r}/cancel`). Safe to repeat. The answer is a
   * request, not proof: keep reading status until it is terminal.
   */
  async cancel(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<CancelResult> {
    const operation = 'cancel';
    requireId(operation, 'deploymentId', deploymentId);
    requireId(operation, 'requestId', requestId);
    return this.#call({
      operation,
      method: 'POST',
      url: this.requestUrls(deploymentId, requestId).cancelUrl,
      signal: options.signal,
      deploymentId,
      requestId,
      allowEmptyBody: true,
      schema: cancelResponseSchema,
      convert: (parsed, httpStatus) => toCancelResult(parsed, requestId, httpStatus),
    });
  }

  /** Creates a deployment (`POST /prod/v2/deployments`). Not idempotent, like submit. */
  async createDeployment(input: CreateDeploymentInput, options: RunComfyCallOptions = {}): Promise<Deployment> {
    return this.#call({
      operation: 'deployments.create',
      method: 'POST',
      url: this.#deploymentsUrl(),
      body: {
        name: input.name,
        workflow_id: input.workflowId,
        workflow_version: input.workflowVersion,
        hardware: [input.hardware],
        min_instances: input.minInstances,
        max_instances: input.maxInstances,
        queue_size: input.queueSize,
        keep_warm_duration_in_seconds: input.keepWarmDurationSeconds,
      },
      signal: options.signal,
      schema: singleDeploymentResponseSchema,
      convert: (parsed) => toDeployment(parsed),
    });
  }

  /** Reads one deployment (`GET /prod/v2/deployments/{id}`), optionally with its payload and readme. */
  async getDeployment(deploymentId: string, query: GetDeploymentQuery = {}, options: RunComfyCallOptions = {}): Promise<Deployment> {
    const operation = 'deployments.get';
    requireId(operation, 'deploymentId', deploymentId);
    const url = new URL(this.#deploymentUrl(deploymentId));
    for (const include of query.includes ?? []) url.searchParams.append('includes', include);
    return this.#call({
      operation,
      method: 'GET',
      url: url.toString(),
      signal: options.signal,
      deploymentId,
      schema: singleDeploymentResponseSchema,
      convert: (parsed) => requireSameDeployment(toDeployment(parsed), deploymentId),
    });
  }

  /** Lists deployments (`GET /prod/v2/deployments`), optionally filtered by ids and with payload/readme. */
  async listDeployments(query: ListDeploymentsQuery = {}, options: RunComfyCallOptions = {}): Promise<Deployment[]> {
    const url = new URL(this.#deploymentsUrl());
    for (const include of query.includes ?? []) url.searchParams.append('includes', include);
    for (const id of query.ids ?? []) url.searchParams.append('ids', id);
    return this.#call({
      operation: 'deployments.list',
      method: 'GET',
      url: url.toString(),
      signal: options.signal,
      schema: deploymentListResponseSchema,
      convert: (parsed) => parsed.map(toDeployment),
    });
  }

  /** Updates a deployment (`PATCH /prod/v2/deployments/{id}`); only the given fields are sent. */
  async updateDeployment(deploymentId: string, input: UpdateDeploymentInput, options: RunComfyCallOptions = {}): Promise<Deployment> {
    const operation = 'deployments.update';
    requireId(operation, 'deploymentId', deploymentId);
    const body: Record<string, unknown> = { name: input.name };
    if (input.hardware !== undefined) body.hardware = [input.hardware];
    if (input.minInstances !== undefined) body.min_instances = input.minInstances;
    if (input.maxInstances !== undefined) body.max_instances = input.maxInstances;
    if (input.queueSize !== undefined) body.queue_size = input.queueSize;
    if (input.keepWarmDurationSeconds !== undefined) body.keep_warm_duration_in_seconds = input.keepWarmDurationSeconds;
    if (input.isEnabled !== undefined) body.is_enabled = input.isEnabled;
    if (input.workflowId !== undefined) body.workflow_id = input.workflowId;
    if (input.workflowVersion !== undefined) body.workflow_version = input.workflowVersion;
    return this.#call({
      operation,
      method: 'PATCH',
      url: this.#deploymentUrl(deploymentId),
      body,
      signal: options.signal,
      deploymentId,
      schema: singleDeploymentResponseSchema,
      convert: (parsed) => requireSameDeployment(toDeployment(parsed), deploymentId),
    });
  }

  /** Deletes a deployment (`DELETE /prod/v2/deployments/{id}`). Any 2xx body, or none, counts as done. */
  async deleteDeployment(deploymentId: string, options: RunComfyCallOptions = {}): Promise<void> {
    const operation = 'deployments.delete';
    requireId(operation, 'deploymentId', deploymentId);
    await this.#call({
      operation,
      method: 'DELETE',
      url: this.#deploymentUrl(deploymentId),
      signal: options.signal,
      deploymentId,
      allowEmptyBody: true,
      schema: ignoredBodySchema,
      convert: () => undefined,
    });
  }

  /** Closes the dispatcher if this client created it; an injected one is left to its owner. */
  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  /** Secret-free description for logs. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.baseUrl, inferenceApiVersion: this.inferenceApiVersion, token: '[redacted]' };
  }

  /** Secret-free `util.inspect` rendering. */
  [inspect.custom](): string {
    return `RunComfyClient ${inspect(this.toJSON())}`;
  }

  #inferenceDeploymentUrl(deploymentId: string): string {
    return `${this.baseUrl}/prod/${this.inferenceApiVersion}/deployments/${encodeURIComponent(deploymentId)}`;
  }

  #deploymentsUrl(): string {
    return `${this.baseUrl}/prod/v2/deployments`;
  }

  #deploymentUrl(deploymentId: string): string {
    return `${this.#deploymentsUrl()}/${encodeURIComponent(deploymentId)}`;
  }

  async #call<S extends z.ZodType, T>(spec: CallSpec<S, T>): Promise<T> {
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

function normalizeBaseUrl(baseUrl: string): string {
  let parsed: URL;
  try {
    parsed = new URL(baseUrl);
  } catch {
    throw new TypeError('RunComfyClient: baseUrl must be an absolute http(s) URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new TypeError('RunComfyClient: baseUrl must be an absolute http(s) URL');
  // Credentials in the URL would travel into every request URL and so into logs; the token is the only credential.
  if (parsed.username !== '' || parsed.password !== '') throw new TypeError('RunComfyClient: baseUrl must not contain credentials');
  if (parsed.search !== '' || parsed.hash !== '') throw new TypeError('RunComfyClient: baseUrl must not contain a query or fragment');
  return `${parsed.origin}${parsed.pathname.replace(/\/+$/, '')}`;
}

function requireId(operation: RunComfyOperation, name: string, value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new RunComfyValidationError({ message: `RunComfy ${operation} failed: ${name} must be a non-empty string`, operation, retryable: false });
  }
}

function checkWebhookUrl(webhookUrl: string, deploymentId: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(webhookUrl);
  } catch {
    parsed = undefined;
  }
  if (parsed === undefined || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) {
    throw new RunComfyValidationError({ message: 'RunComfy submit failed: webhook.url must be an absolute http(s) URL', operation: 'submit', retryable: false, deploymentId });
  }
  // Sent exactly as given: URL normalisation could alter a signature the receiver checks.
  return webhookUrl;
}

function requireSameDeployment(deployment: Deployment, deploymentId: string): Deployment {
  if (deployment.id !== deploymentId) throw new ResponseShapeError(['id: does not match the deployment that was asked for']);
  return deployment;
}
