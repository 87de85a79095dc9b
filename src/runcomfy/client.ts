import { inspect } from 'node:util';
import type { Dispatcher } from 'undici';
import { DeploymentsResource, type CreateDeploymentInput, type GetDeploymentQuery, type ListDeploymentsQuery, type UpdateDeploymentInput } from './deployments.js';
import { createRunComfyDispatcher } from './dispatcher.js';
import { InferenceResource, type RequestUrls, type SubmitJobInput } from './inference.js';
import type { CancelResult, Deployment, JobResult, JobStatus, SubmittedJob } from './schemas.js';
import { RunComfyTransport } from './transport.js';

export type { CreateDeploymentInput, DeploymentInclude, GetDeploymentQuery, ListDeploymentsQuery, UpdateDeploymentInput } from './deployments.js';
export type { RequestUrls, SubmitJobInput, WebhookTarget } from './inference.js';

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

const DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024;
const DEFAULT_USER_AGENT = 'runcomfy-pipelines/0.1';

/**
 * Typed client of RunComfy's serverless API: one method per endpoint, one HTTP call per method,
 * no retries (those belong to the caller's retry policy), an `AbortSignal` on every call, every
 * response checked with zod and every failure thrown as a `RunComfyError` subclass.
 *
 * One resource per file, as the API groups them: {@link InferenceResource} (`inference.ts`: submit,
 * status, result, cancel) and {@link DeploymentsResource} (`deployments.ts`); both run their calls
 * through the one transport (`transport.ts`). The methods here are the same calls under the names
 * the activities and the CLI use.
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
  readonly inference: InferenceResource;
  readonly deployments: DeploymentsResource;
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;

  constructor(options: RunComfyClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    if (typeof options.token !== 'string' || options.token.trim() === '' || /[\r\n]/.test(options.token)) {
      throw new TypeError('RunComfyClient: token must be a non-empty single-line string');
    }
    const version = options.inferenceApiVersion ?? 'v1';
    if (version !== 'v1' && version !== 'v2') throw new TypeError("RunComfyClient: inferenceApiVersion must be 'v1' or 'v2'");
    this.inferenceApiVersion = version;
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
    const transport = new RunComfyTransport({
      baseUrl: this.baseUrl,
      token: options.token,
      dispatcher: this.#dispatcher,
      headersTimeoutMs: options.timeouts?.headersMs,
      bodyTimeoutMs: options.timeouts?.bodyMs,
      userAgent: options.userAgent ?? DEFAULT_USER_AGENT,
      maxResponseBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    });
    this.inference = new InferenceResource(transport, version);
    this.deployments = new DeploymentsResource(transport);
  }

  /** The absolute status/result/cancel URLs of a request, as the submit response gives them. */
  requestUrls(deploymentId: string, requestId: string): RequestUrls {
    return this.inference.requestUrls(deploymentId, requestId);
  }

  /** {@link InferenceResource.submit}: not idempotent. */
  submit(deploymentId: string, input: SubmitJobInput = {}, options: RunComfyCallOptions = {}): Promise<SubmittedJob> {
    return this.inference.submit(deploymentId, input, options);
  }

  getStatus(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<JobStatus> {
    return this.inference.getStatus(deploymentId, requestId, options);
  }

  getResult(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<JobResult> {
    return this.inference.getResult(deploymentId, requestId, options);
  }

  cancel(deploymentId: string, requestId: string, options: RunComfyCallOptions = {}): Promise<CancelResult> {
    return this.inference.cancel(deploymentId, requestId, options);
  }

  createDeployment(input: CreateDeploymentInput, options: RunComfyCallOptions = {}): Promise<Deployment> {
    return this.deployments.create(input, options);
  }

  getDeployment(deploymentId: string, query: GetDeploymentQuery = {}, options: RunComfyCallOptions = {}): Promise<Deployment> {
    return this.deployments.get(deploymentId, query, options);
  }

  listDeployments(query: ListDeploymentsQuery = {}, options: RunComfyCallOptions = {}): Promise<Deployment[]> {
    return this.deployments.list(query, options);
  }

  updateDeployment(deploymentId: string, input: UpdateDeploymentInput, options: RunComfyCallOptions = {}): Promise<Deployment> {
    return this.deployments.update(deploymentId, input, options);
  }

  deleteDeployment(deploymentId: string, options: RunComfyCallOptions = {}): Promise<void> {
    return this.deployments.delete(deploymentId, options);
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
