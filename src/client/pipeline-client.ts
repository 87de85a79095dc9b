/**
 * The backend's facade over the pipeline service: start, watch, cancel and collect pipelines, and
 * upload inputs to R2. It talks to Temporal through `@temporalio/client` only and never loads
 * `@temporalio/worker` (or its native bridge), so any backend process can use it.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import {
  ApplicationFailure,
  CancelledFailure,
  Client,
  Connection,
  TerminatedFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { LoadedDataConverter } from '@temporalio/common';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow/codec-helpers.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { inspect } from 'node:util';
import { Readable } from 'node:stream';
import type { PipelineSpecIssue } from '../pipeline/errors.js';
import type { DeploymentRegistry } from '../pipeline/registry.js';
import { signedUrlIssues } from '../pipeline/param-values.js';
import { validatePipelineSpec, type PipelineSpec } from '../pipeline/spec.js';
import {
  cancelPipelineSignal,
  DEFAULT_TASK_QUEUE,
  PIPELINE_FAILURE_TYPES,
  PIPELINE_WORKFLOW_TYPE,
  pipelineProgressQuery,
  pipelineWorkflowId,
  type PipelineProgress,
  type PipelineResult,
  type PipelineStatus,
  type PipelineWorkflowInput,
} from '../shared/pipeline-contract.js';
import { pipelineStatusSearchAttribute } from '../shared/search-attributes.js';
import { ObjectStore } from '../storage/object-store.js';
import { createObjectStoreClient, type ObjectStoreConfig } from '../storage/s3-client.js';
import {
  InvalidPipelineSpecError,
  PipelineAlreadyStartedError,
  PipelineCancelledError,
  PipelineClientNotConfiguredError,
  PipelineFailedError,
  PipelineNotFoundError,
  type PipelineFailureInfo,
  type StepOutput,
} from './errors.js';
import { persistedOutputsOf, progressFromHistory, readPipelineHistory, type PipelineHistoryFacts } from './history.js';
import { inputKey, sniffMedia } from './input-key.js';
import { specSha256 } from './spec-digest.js';
import type {
  LiveStepStatus,
  PipelineListFilter,
  PipelineListStatus,
  PipelineRunStatus,
  PipelineStatusView,
  PipelineSummary,
  StartedPipeline,
  UploadedInput,
} from './types.js';

type PipelineWorkflow = (input: PipelineWorkflowInput) => Promise<PipelineResult>;

/** Default lifetime of presigned URLs handed out by the client: a day, long enough for a queued pipeline to read its inputs. */
export const DEFAULT_CLIENT_PRESIGN_TTL_SECONDS = 24 * 3600;
/** Default time a running pipeline gets to answer the progress query before the client falls back on its history. */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;
/** Default interval between status reads of {@link PipelineClient.watch}. */
export const DEFAULT_WATCH_INTERVAL_MS = 1_000;

/** Options shared by {@link PipelineClient.connect} and the constructor. */
export interface PipelineClientCommonOptions {
  /** Task queue the pipeline workers poll (default `generation-pipelines`). */
  taskQueue?: string;
  /** Lifetime of presigned URLs from {@link PipelineClient.uploadInput} and {@link PipelineClient.presignOutput} (default a day, at most 7 days). */
  presignTtlSeconds?: number;
  /** When given, `start` also checks each step against the deployment registry before starting. */
  registry?: DeploymentRegistry;
  /** How long a running pipeline may take to answer the progress query (default 5000 ms). */
  queryTimeoutMs?: number;
}

/** Options of {@link PipelineClient.connect}. */
export interface PipelineClientConnectOptions extends PipelineClientCommonOptions {
  /** Temporal frontend, `host:port`. */
  address: string;
  namespace?: string;
  tls?: boolean;
  /** Temporal Cloud API key; implies TLS unless `tls` is false. Never logged. */
  apiKey?: string;
  /** The R2 (or S3) bucket, for uploads of inputs and presigned links to outputs. */
  store?: ObjectStoreConfig;
  /**
   * Encrypts what the client sends and decrypts what it reads: give it the codec the workers use
   * (`new AesGcmPayloadCodec(loadPayloadKeys(...))` from `src/codec`) when PAYLOAD_KEYS is set.
   */
  payloadCodec?: PayloadCodec;
}

/** Options of the {@link PipelineClient} constructor: bring your own Temporal client (and store). */
export interface PipelineClientOptions extends PipelineClientCommonOptions {
  client: Client;
  store?: ObjectStore;
}

/** Options of {@link PipelineClient.watch}. */
export interface WatchOptions {
  /** Time between status reads (default 1000 ms). */
  intervalMs?: number;
  /** Stops watching: the iteration then ends without an error. */
  signal?: AbortSignal;
}

/** Options of {@link PipelineClient.uploadInput}. */
export interface UploadInputOptions {
  /** Key in the bucket (default `inputs/<sha256>/<file name>`: the same file always gets the same key). */
  key?: string;
  /** Default: from the key's extension, else from the bytes' magic number. */
  contentType?: string;
}

interface OwnedResources {
  connection?: Connection;
  s3?: S3Client;
}

/** `PendingActivityState` values of Temporal's API (1 scheduled, 2 started, 3 cancel requested). */
const ACTIVITY_STATES: Record<number, LiveStepStatus['activityState']> = { 1: 'scheduled', 2: 'started', 3: 'cancel-requested' };

/** Visibility clauses per listable status. Terminated/timed-out runs never upserted a final status, so Temporal's own status completes the picture. */
const LIST_STATUS_QUERIES: Record<PipelineListStatus, string> = {
  running: `ExecutionStatus = 'Running'`,
  succeeded: `${pipelineStatusSearchAttribute.name} = 'succeeded'`,
  failed: `(${pipelineStatusSearchAttribute.name} = 'failed' OR ExecutionStatus = 'Failed' OR ExecutionStatus = 'Terminated' OR ExecutionStatus = 'TimedOut')`,
  cancelled: `(${pipelineStatusSearchAttribute.name} = 'cancelled' OR ExecutionStatus = 'Canceled')`,
};

/** How many runs' activity → step maps are kept for `getStatus`/`watch`. */
const ACTIVITY_STEP_CACHE_RUNS = 256;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function timestampIso(time: { seconds?: unknown; nanos?: number | null } | null | undefined): string | undefined {
  if (!time) return undefined;
  return new Date(Number(String(time.seconds ?? 0)) * 1000 + Math.floor((time.nanos ?? 0) / 1_000_000)).toISOString();
}

/** Oversized inline data is the one spec problem with a ready remedy: say what to call. */
function withUploadHints(issues: readonly PipelineSpecIssue[]): PipelineSpecIssue[] {
  return issues.map((issue) =>
    /data URI is \d+ characters|pass media as URLs/.test(issue.message)
      ? { path: issue.path, message: `${issue.message}; use PipelineClient.uploadInput() (CLI: pass a local file path) and put the returned ref (r2://…) in the spec` }
      : issue,
  );
}

function summaryOf(spec: PipelineSpec): string {
  const chain = spec.steps.map((step) => step.id).join(' → ');
  const text = `pipeline ${spec.pipelineId}: ${chain}`;
  return text.length > 200 ? `${text.slice(0, 197)}...` : text;
}

/** The failure a closed pipeline ended with, in the client's terms. */
function failureInfoFromCause(cause: Error | undefined): PipelineFailureInfo {
  if (cause instanceof ApplicationFailure) {
    const detail = cause.details?.[0];
    if (cause.type === PIPELINE_FAILURE_TYPES.stepFailed && isRecord(detail)) {
      const stepId = optionalString(detail.stepId);
      const requestId = optionalString(detail.requestId);
      const remoteError = optionalString(detail.remoteError);
      return {
        failureType: optionalString(detail.type) ?? cause.type,
        message: cause.message,
        ...(stepId !== undefined ? { stepId } : {}),
        ...(requestId !== undefined ? { requestId } : {}),
        ...(remoteError !== undefined ? { remoteError } : {}),
      };
    }
    return { failureType: cause.type ?? 'ApplicationFailure', message: cause.message };
  }
  if (cause instanceof TerminatedFailure) return { failureType: 'Terminated', message: `terminated: ${cause.message}` };
  if (cause instanceof TimeoutFailure) return { failureType: 'TimedOut', message: `timed out: ${cause.message}` };
  return { failureType: cause?.name ?? 'Unknown', message: cause?.message ?? 'the pipeline failed for an unknown reason' };
}

function outputsOf(progress: PipelineProgress): StepOutput[] {
  return progress.steps.flatMap((step) => step.outputs.map((output) => ({ stepId: step.id, ...output })));
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What changes between two views and matters to a watcher (heartbeat times alone do not count). */
function changeKey(view: PipelineStatusView): string {
  const live = view.live ? Object.fromEntries(Object.entries(view.live).map(([stepId, { lastHeartbeatAt: _ignored, ...rest }]) => [stepId, rest])) : undefined;
  return JSON.stringify({ ...view, live });
}

/**
 * Client of the pipeline service for a backend or an operator tool. Pipelines are identified by the
 * caller's pipeline id; every method takes that id, never a Temporal id.
 *
 * ```ts
 * const pipelines = await PipelineClient.connect({ address: '127.0.0.1:7233', store });
 * const { pipelineId } = await pipelines.start(spec);
 * for await (const view of pipelines.watch(pipelineId)) console.log(view.status);
 * const result = await pipelines.result(pipelineId);
 * ```
 */
export class PipelineClient {
  /** The Temporal client in use. */
  readonly client: Client;
  /** Task queue new pipelines are started on. */
  readonly taskQueue: string;
  readonly #store: ObjectStore | undefined;
  readonly #presignTtlSeconds: number;
  readonly #registry: DeploymentRegistry | undefined;
  readonly #queryTimeoutMs: number;
  readonly #activitySteps = new Map<string, Map<string, string>>();
  #owned: OwnedResources = {};

  /** Wraps an existing Temporal client (and optionally an object store); `close()` then leaves both open. */
  constructor(options: PipelineClientOptions) {
    this.client = options.client;
    this.taskQueue = options.taskQueue ?? DEFAULT_TASK_QUEUE;
    this.#store = options.store;
    this.#presignTtlSeconds = options.presignTtlSeconds ?? DEFAULT_CLIENT_PRESIGN_TTL_SECONDS;
    this.#registry = options.registry;
    this.#queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
    if (!Number.isInteger(this.#presignTtlSeconds) || this.#presignTtlSeconds < 1 || this.#presignTtlSeconds > 7 * 24 * 3600) {
      throw new RangeError('presignTtlSeconds must be a whole number of seconds between 1 and 604800 (7 days)');
    }
  }

  /**
   * Connects to Temporal (and, with `store`, prepares an S3 client for the bucket). The returned
   * client owns both: call {@link close} when done.
   */
  static async connect(options: PipelineClientConnectOptions): Promise<PipelineClient> {
    const tls = options.tls ?? options.apiKey !== undefined;
    const connection = await Connection.connect({
      address: options.address,
      ...(tls ? { tls: true } : {}),
      ...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
    });
    const s3 = options.store ? createObjectStoreClient(options.store) : undefined;
    try {
      const client = new Client({ connection, namespace: options.namespace ?? 'default', ...(options.payloadCodec ? { dataConverter: { payloadCodecs: [options.payloadCodec] } } : {}) });
      const store = s3 && options.store ? new ObjectStore({ client: s3, bucket: options.store.bucket, presignTtlSeconds: options.presignTtlSeconds ?? DEFAULT_CLIENT_PRESIGN_TTL_SECONDS }) : undefined;
      const pipelineClient = new PipelineClient({
        client,
        ...(store ? { store } : {}),
        ...(options.taskQueue !== undefined ? { taskQueue: options.taskQueue } : {}),
        ...(options.presignTtlSeconds !== undefined ? { presignTtlSeconds: options.presignTtlSeconds } : {}),
        ...(options.registry !== undefined ? { registry: options.registry } : {}),
        ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
      });
      pipelineClient.#owned = { connection, ...(s3 ? { s3 } : {}) };
      return pipelineClient;
    } catch (error) {
      s3?.destroy();
      await connection.close();
      throw error;
    }
  }

  /** The Temporal namespace in use. */
  get namespace(): string {
    return this.client.options.namespace;
  }

  /**
   * Validates `spec` and starts the pipeline, once per pipeline id: starting the same spec again
   * (even after the pipeline finished) returns the existing pipeline with `alreadyStarted: true`;
   * a different spec under the same id throws {@link PipelineAlreadyStartedError}. An invalid spec
   * throws {@link InvalidPipelineSpecError} and starts nothing.
   */
  async start(spec: unknown): Promise<StartedPipeline> {
    const validation = validatePipelineSpec(spec, this.#registry);
    if (!validation.ok) throw new InvalidPipelineSpecError(withUploadHints(validation.issues));
    const signed = signedUrlIssues(validation.spec.steps);
    if (signed.length > 0) throw new InvalidPipelineSpecError(signed);
    const valid = validation.spec;
    const { pipelineId } = valid;
    const workflowId = pipelineWorkflowId(pipelineId);
    const digest = specSha256(valid);
    try {
      const handle = await this.client.workflow.start<PipelineWorkflow>(PIPELINE_WORKFLOW_TYPE, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [{ spec: valid }],
        // An id never runs twice, even once closed: a retried start must not pay for a second run.
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        workflowIdConflictPolicy: 'FAIL',
        memo: { pipelineId, specSha256: digest, ...(valid.labels ? { labels: valid.labels } : {}) },
        // Set at start so listings find the pipeline before its first workflow task runs.
        typedSearchAttributes: [{ key: pipelineStatusSearchAttribute, value: 'running' }],
        staticSummary: summaryOf(valid),
      });
      return { pipelineId, workflowId, runId: handle.firstExecutionRunId, alreadyStarted: false };
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
      const existing = await this.#describe(pipelineId);
      if (existing.memo?.specSha256 === digest) return { pipelineId, workflowId, runId: existing.runId, alreadyStarted: true };
      throw new PipelineAlreadyStartedError(pipelineId, existing.status.name, { cause: error });
    }
  }

  /**
   * The pipeline's current status. While it runs: the workflow's progress query, plus live details
   * of each step's activity in flight (queue position, RunComfy status, bytes copied) from Temporal's
   * describe. Once closed: from its result or its history, so no worker needs to be running.
   */
  async getStatus(pipelineId: string): Promise<PipelineStatusView> {
    const description = await this.#describe(pipelineId);
    const handle = this.client.workflow.getHandle<PipelineWorkflow>(description.workflowId, description.runId);
    const runStatus = description.status.name;
    const base = {
      workflowId: description.workflowId,
      runId: description.runId,
      runStatus,
      webUiPath: `/namespaces/${encodeURIComponent(this.namespace)}/workflows/${encodeURIComponent(description.workflowId)}/${encodeURIComponent(description.runId)}/history`,
    };

    if (runStatus === 'RUNNING') {
      const live = await this.#liveSteps(handle, description);
      let progress: PipelineProgress;
      let source: PipelineStatusView['source'] = 'query';
      try {
        progress = await this.client.withDeadline(Date.now() + this.#queryTimeoutMs, () => handle.query(pipelineProgressQuery));
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) throw new PipelineNotFoundError(pipelineId, { cause: error });
        // No worker (or none answering in time): the history still tells most of the story.
        const facts = await this.#history(handle);
        progress = progressFromHistory(facts, {
          pipelineId,
          running: true,
          status: facts.cancelReason !== undefined ? 'cancelling' : facts.steps.size > 0 ? 'running' : 'preparing',
          startedAt: description.startTime.toISOString(),
        });
        source = 'history';
      }
      return { ...progress, ...base, ...(Object.keys(live).length > 0 ? { live } : {}), source };
    }

    if (runStatus === 'COMPLETED') {
      const result = await handle.result();
      return { ...result, ...base, source: 'result' };
    }

    let failure: PipelineFailureInfo | undefined;
    let status: PipelineStatus = runStatus === 'CANCELLED' ? 'cancelled' : 'failed';
    try {
      await handle.result();
    } catch (error) {
      if (error instanceof WorkflowFailedError) {
        if (error.cause instanceof CancelledFailure) status = 'cancelled';
        else failure = failureInfoFromCause(error.cause);
      } else if (error instanceof WorkflowNotFoundError) {
        throw new PipelineNotFoundError(pipelineId, { cause: error });
      } else {
        throw error;
      }
    }
    const facts = await this.#history(handle);
    const progress = progressFromHistory(facts, {
      pipelineId,
      running: false,
      status,
      startedAt: description.startTime.toISOString(),
      ...(description.closeTime ? { finishedAt: description.closeTime.toISOString() } : {}),
      ...(failure ? { failure } : {}),
    });
    return { ...progress, ...base, ...(failure ? { failure } : {}), source: 'history' };
  }

  /**
   * Yields the pipeline's status now and then on every change (read every `intervalMs`), and ends
   * after yielding the status of the closed pipeline. Aborting `signal` ends the iteration quietly.
   */
  async *watch(pipelineId: string, options: WatchOptions = {}): AsyncGenerator<PipelineStatusView, void, undefined> {
    const intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
    const { signal } = options;
    let lastKey: string | undefined;
    while (!signal?.aborted) {
      const view = await this.getStatus(pipelineId);
      const key = changeKey(view);
      if (key !== lastKey) {
        lastKey = key;
        yield view;
      }
      if (view.runStatus !== 'RUNNING') return;
      await sleep(intervalMs, signal);
    }
  }

  /**
   * Asks the pipeline to stop (the `cancelPipeline` signal): accepted RunComfy jobs are cancelled,
   * outputs already in R2 are kept, and the pipeline ends with status `cancelled`. Resolves once
   * the request is recorded, not when the pipeline has stopped (use {@link result} or
   * {@link watch}). Does nothing for a pipeline that already ended.
   */
  async cancel(pipelineId: string, reason: string, requestedBy?: string): Promise<void> {
    const handle = this.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    try {
      await handle.signal(cancelPipelineSignal, { reason, ...(requestedBy !== undefined ? { requestedBy } : {}) });
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
      // Signalling a closed run also answers "not found": only a missing pipeline is an error.
      await this.#describe(pipelineId);
    }
  }

  /**
   * Waits for the pipeline to end and returns its result (steps with their persisted outputs).
   * Throws {@link PipelineFailedError}, {@link PipelineCancelledError} (with the outputs kept) or
   * {@link PipelineNotFoundError}.
   */
  async result(pipelineId: string): Promise<PipelineResult> {
    const handle = this.client.workflow.getHandle<PipelineWorkflow>(pipelineWorkflowId(pipelineId));
    let result: PipelineResult;
    try {
      result = await handle.result();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new PipelineNotFoundError(pipelineId, { cause: error });
      if (!(error instanceof WorkflowFailedError)) throw error;
      if (error.cause instanceof CancelledFailure) {
        // A Temporal cancellation leaves no result: the history knows what was kept.
        const facts = await this.#history(handle).catch((): PipelineHistoryFacts | undefined => undefined);
        throw new PipelineCancelledError(pipelineId, facts?.cancelReason ?? 'cancelled through Temporal', facts ? persistedOutputsOf(facts) : [], undefined, { cause: error });
      }
      throw new PipelineFailedError(pipelineId, failureInfoFromCause(error.cause), { cause: error });
    }
    if (result.status === 'cancelled') {
      throw new PipelineCancelledError(pipelineId, result.cancelReason ?? 'no reason given', outputsOf(result), result);
    }
    if (result.status === 'failed') {
      const failed = result.steps.find((step) => step.id === result.failedStepId);
      throw new PipelineFailedError(pipelineId, {
        failureType: failed?.error?.type ?? 'Unknown',
        message: failed?.error?.message ?? 'the pipeline reported a failure',
        ...(failed ? { stepId: failed.id } : {}),
        ...(failed?.error?.requestId !== undefined ? { requestId: failed.error.requestId } : {}),
        ...(failed?.error?.remoteError !== undefined ? { remoteError: failed.error.remoteError } : {}),
      });
    }
    return result;
  }

  /**
   * Pipelines from Temporal's visibility store, newest first: by status (`running` is Temporal's
   * own run status; the others come from the `PipelineStatus` search attribute and the run status)
   * and start time. Listings lag the truth by up to a second or so.
   */
  async list(filter: PipelineListFilter = {}): Promise<PipelineSummary[]> {
    const limit = filter.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive whole number');
    const clauses = [`WorkflowType = '${PIPELINE_WORKFLOW_TYPE}'`];
    if (filter.status !== undefined) {
      const clause = LIST_STATUS_QUERIES[filter.status];
      if (clause === undefined) throw new RangeError(`status must be one of ${Object.keys(LIST_STATUS_QUERIES).join(', ')}`);
      clauses.push(clause);
    }
    if (filter.since !== undefined) {
      if (Number.isNaN(filter.since.getTime())) throw new RangeError('since must be a valid date');
      clauses.push(`StartTime >= '${filter.since.toISOString()}'`);
    }
    const summaries: PipelineSummary[] = [];
    for await (const info of this.client.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 1000) })) {
      const memo = info.memo ?? {};
      const attribute = info.typedSearchAttributes.get(pipelineStatusSearchAttribute);
      const labels = isRecord(memo.labels) ? (memo.labels as Record<string, string>) : undefined;
      summaries.push({
        pipelineId: optionalString(memo.pipelineId) ?? info.workflowId.replace(/^pipeline-/, ''),
        workflowId: info.workflowId,
        runId: info.runId,
        status: summaryStatus(info.status.name, attribute),
        runStatus: info.status.name,
        startedAt: info.startTime.toISOString(),
        ...(info.closeTime ? { closedAt: info.closeTime.toISOString() } : {}),
        taskQueue: info.taskQueue,
        ...(labels ? { labels } : {}),
      });
      if (summaries.length >= limit) break;
    }
    return summaries;
  }

  /**
   * Stores an input file (a face image, a reference video…) in the bucket and returns its key, the
   * `ref` to put in a spec (`r2://<key>`: presigned by the worker at submit time, so history never
   * holds a signature) and a presigned URL for the caller's own use. Needs a `store`.
   */
  async uploadInput(input: { path: string } | { bytes: Uint8Array }, options: UploadInputOptions = {}): Promise<UploadedInput> {
    const store = this.#requireStore('uploadInput');
    if ('path' in input) {
      const key = options.key ?? inputKey(basename(input.path), await sha256OfFile(input.path));
      // An identical object already at the key is kept as is (putObjectFromFile compares hashes).
      const stored = await store.putObjectFromFile({ key, path: input.path, ...(options.contentType !== undefined ? { contentType: options.contentType } : {}) });
      const url = await store.presignGet(key, { expiresInSeconds: this.#presignTtlSeconds });
      return { key, ref: `r2://${key}`, url, bytes: stored.bytes, sha256: stored.sha256, contentType: stored.contentType };
    }
    const bytes = Buffer.from(input.bytes.buffer, input.bytes.byteOffset, input.bytes.byteLength);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const sniffed = sniffMedia(bytes);
    const key = options.key ?? inputKey(`input${sniffed?.extension ?? ''}`, sha256);
    const contentType = options.contentType ?? sniffed?.contentType;
    const existing = await store.head(key);
    if (existing?.sha256 === sha256 && existing.bytes === bytes.byteLength) {
      return { key, ref: `r2://${key}`, url: await store.presignGet(key, { expiresInSeconds: this.#presignTtlSeconds }), bytes: existing.bytes, sha256, contentType: existing.contentType };
    }
    const stored = await store.putObjectFromStream({
      key,
      body: Readable.from([bytes]),
      expectedBytes: bytes.byteLength,
      ...(contentType !== undefined ? { contentType } : {}),
    });
    const url = await store.presignGet(key, { expiresInSeconds: this.#presignTtlSeconds });
    return { key, ref: `r2://${key}`, url, bytes: stored.bytes, sha256: stored.sha256, contentType: stored.contentType };
  }

  /** A presigned GET URL for an output's R2 key (valid `presignTtlSeconds`). Needs a `store`. */
  async presignOutput(key: string): Promise<string> {
    return this.#requireStore('presignOutput').presignGet(key, { expiresInSeconds: this.#presignTtlSeconds });
  }

  /** Closes what {@link connect} opened (the Temporal connection, the S3 client). Idempotent. */
  async close(): Promise<void> {
    const { connection, s3 } = this.#owned;
    this.#owned = {};
    s3?.destroy();
    await connection?.close();
  }

  /** Secret-free description for logs (the Temporal client's connection options may hold an API key). */
  toJSON(): Record<string, unknown> {
    return { namespace: this.namespace, taskQueue: this.taskQueue, objectStore: this.#store ? this.#store.bucket : null };
  }

  /** Secret-free `util.inspect` rendering. */
  [inspect.custom](): string {
    return `PipelineClient ${inspect(this.toJSON())}`;
  }

  #requireStore(operation: string): ObjectStore {
    if (!this.#store) throw new PipelineClientNotConfiguredError(`${operation} needs an object store: pass \`store\` to PipelineClient (CLI: set R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY)`);
    return this.#store;
  }

  get #converter(): LoadedDataConverter {
    return this.client.options.loadedDataConverter;
  }

  async #describe(pipelineId: string): Promise<WorkflowExecutionDescription> {
    try {
      return await this.client.workflow.getHandle(pipelineWorkflowId(pipelineId)).describe();
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new PipelineNotFoundError(pipelineId, { cause: error });
      throw error;
    }
  }

  async #history(handle: WorkflowHandle): Promise<PipelineHistoryFacts> {
    const history = await handle.fetchHistory();
    return readPipelineHistory(history.events ?? [], this.#converter);
  }

  /** Heartbeat details of the activities in flight, keyed by the step they belong to. */
  async #liveSteps(handle: WorkflowHandle, description: WorkflowExecutionDescription): Promise<Record<string, LiveStepStatus>> {
    const pending = description.raw.pendingActivities ?? [];
    if (pending.length === 0) return {};
    let steps = this.#activitySteps.get(description.runId);
    if (!steps || pending.some((activity) => !steps?.has(activity.activityId ?? ''))) {
      // Activity summaries (= step ids) live in the scheduling events, not in describe's answer.
      steps = (await this.#history(handle)).activitySteps;
      this.#activitySteps.delete(description.runId);
      this.#activitySteps.set(description.runId, steps);
      if (this.#activitySteps.size > ACTIVITY_STEP_CACHE_RUNS) this.#activitySteps.delete(this.#activitySteps.keys().next().value as string);
    }
    const live: Record<string, LiveStepStatus> = {};
    for (const activity of pending) {
      const stepId = steps.get(activity.activityId ?? '');
      if (stepId === undefined) continue;
      let details: unknown;
      try {
        details = (await decodeArrayFromPayloads(this.#converter, activity.heartbeatDetails?.payloads ?? []))[0];
      } catch {
        details = undefined;
      }
      const beat = isRecord(details) ? details : {};
      const lastHeartbeatAt = timestampIso(activity.lastHeartbeatTime);
      const status: LiveStepStatus = {
        activity: activity.activityType?.name ?? 'unknown',
        activityState: ACTIVITY_STATES[activity.state ?? 0] ?? 'unknown',
        attempt: activity.attempt ?? 1,
        ...(typeof beat.requestId === 'string' ? { requestId: beat.requestId } : {}),
        ...(typeof beat.status === 'string' ? { remoteStatus: beat.status } : {}),
        ...(typeof beat.queuePosition === 'number' ? { queuePosition: beat.queuePosition } : {}),
        ...(typeof beat.statusReads === 'number' ? { statusReads: beat.statusReads } : {}),
        ...(typeof beat.bytesCopied === 'number' ? { bytesCopied: beat.bytesCopied } : {}),
        ...(typeof beat.filesDone === 'number' ? { filesDone: beat.filesDone } : {}),
        ...(typeof beat.filesTotal === 'number' ? { filesTotal: beat.filesTotal } : {}),
        ...(lastHeartbeatAt !== undefined && details !== undefined ? { lastHeartbeatAt } : {}),
        ...(activity.lastFailure?.message ? { lastFailure: activity.lastFailure.message } : {}),
      };
      // Two activities of one step at once (a poll being cancelled while the cancel runs): keep the poll's view.
      const existing = live[stepId];
      if (!existing || status.activity === 'awaitJob' || status.activity === 'persistOutputs') live[stepId] = status;
    }
    return live;
  }
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function summaryStatus(runStatus: PipelineRunStatus, attribute: string | undefined): PipelineStatus {
  switch (runStatus) {
    case 'RUNNING':
      return 'running';
    case 'COMPLETED':
      return attribute === 'cancelled' || attribute === 'failed' ? attribute : 'succeeded';
    case 'CANCELLED':
      return 'cancelled';
    default:
      return 'failed';
  }
}
