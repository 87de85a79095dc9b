/**
 * The inference resource of RunComfy's API: submit a job, read its status and result, cancel it
 * (`/prod/{v1|v2}/deployments/{id}/inference` and `.../requests/{r}/...`).
 */
import type { InferenceApiVersion } from './client.js';
import { RunComfyValidationError } from './errors.js';
import { cancelResponseSchema, resultResponseSchema, statusResponseSchema, submitResponseSchema, toCancelResult, toJobResult, toJobStatus, toSubmittedJob } from './schemas.js';
import type { CancelResult, JobResult, JobStatus, SubmittedJob, WorkflowApiJson, WorkflowOverrides } from './schemas.js';
import type { RunComfyCallOptions } from './client.js';
import { requireId, type RunComfyTransport } from './transport.js';

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

export class InferenceResource {
  readonly #transport: RunComfyTransport;

  constructor(
    transport: RunComfyTransport,
    /** Inference path prefix in use. */
    readonly apiVersion: InferenceApiVersion,
  ) {
    this.#transport = transport;
  }

  /** The absolute status/result/cancel URLs of a request, as the submit response gives them. */
  requestUrls(deploymentId: string, requestId: string): RequestUrls {
    const base = `${this.#deploymentUrl(deploymentId)}/requests/${encodeURIComponent(requestId)}`;
    return { statusUrl: `${base}/status`, resultUrl: `${base}/result`, cancelUrl: `${base}/cancel` };
  }

  /**
   * Submits a job (`POST .../deployments/{id}/inference`). Not idempotent: when it throws with
   * `jobMayHaveBeenAccepted: true` the job may be running; do not blindly submit again.
   */
  async submit(deploymentId: string, input: SubmitJobInput = {}, options: RunComfyCallOptions = {}): Promise<SubmittedJob> {
    const operation = 'submit';
    requireId(operation, 'deploymentId', deploymentId);
    const url = new URL(`${this.#deploymentUrl(deploymentId)}/inference`);
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
    return this.#transport.call({
      operation,
      method: 'POST',
      url: url.toString(),
      body,
      signal: options.signal,
      deploymentId,
      // a pooled socket the server is closing would turn this POST into an unknown outcome
      freshConnection: true,
      schema: submitResponseSchema,
      convert: (parsed, httpStatus) => toSubmittedJob(parsed, httpStatus, this.requestUrls(deploymentId, parsed.request_id)),
    });
  }

  /** Reads a job's queue state (`GET .../requests/{r}/status`). */
  async getStatus(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<JobStatus> {
    const operation = 'status';
    requireId(operation, 'deploymentId', deploymentId);
    requireId(operation, 'requestId', requestId);
    return this.#transport.call({
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
    return this.#transport.call({
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
    return this.#transport.call({
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

  #deploymentUrl(deploymentId: string): string {
    return `${this.#transport.baseUrl}/prod/${this.apiVersion}/deployments/${encodeURIComponent(deploymentId)}`;
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
