/**
 * The backend's facade over the pipeline service: start, watch, cancel and collect pipelines. It
 * talks to Temporal through `@temporalio/client` only and never loads `@temporalio/worker` (or its
 * native bridge), so any backend process can use it. Inputs and links to outputs belong to the
 * storage facade (`src/storage/inputs.ts`); the two methods here that need it load it on first use,
 * so a backend that never uploads never loads the AWS SDK.
 */
import {
  CancelledFailure,
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common';
import { inspect } from 'node:util';
import type { DeploymentRegistry } from '../pipeline/registry.js';
import { gpuFactsOf } from '../pipeline/gpu-facts.js';
import { signedUrlIssues } from '../pipeline/param-values.js';
import { validatePipelineSpec } from '../pipeline/spec.js';
import {
  cancelPipelineSignal,
  DEFAULT_TASK_QUEUE,
  PIPELINE_WORKFLOW_TYPE,
  pipelineProgressQuery,
  pipelineWorkflowId,
  type PipelineProgress,
  type PipelineResult,
  type PipelineStatus,
  type PipelineWorkflowInput,
} from '../contract/pipeline-contract.js';
import { pipelineStatusSearchAttribute } from '../contract/search-attributes.js';
import type { PipelineStorage, UploadedInput, UploadInputOptions } from '../storage/inputs.js';
import type { ObjectStore } from '../storage/object-store.js';
import { correlationAttributes, correlationClauses, correlationOfMemo, integrationIssuesOf, type IntegrationChecks } from './correlation.js';
import {
  InvalidPipelineSpecError,
  PipelineAlreadyStartedError,
  PipelineCancelledError,
  PipelineClientNotConfiguredError,
  PipelineFailedError,
  PipelineNotFoundError,
  type PipelineFailureInfo,
} from './errors.js';
import { persistedOutputsOf, progressFromHistory, readPipelineHistory, type PipelineHistoryFacts } from './history.js';
import { specSha256 } from './spec-digest.js';
import { addWaitingSteps, changeKey, failureInfoFromCause, isRecord, LIST_STATUS_QUERIES, liveStepStatuses, optionalString, outputsOf, sleep, summaryOf, summaryStatus, withUploadHints } from './views.js';
import {
  DEFAULT_CLIENT_PRESIGN_TTL_SECONDS,
  DEFAULT_QUERY_TIMEOUT_MS,
  DEFAULT_WATCH_INTERVAL_MS,
  type PipelineClientConnectOptions,
  type PipelineClientOptions,
  type WatchOptions,
  type LiveStepStatus,
  type PipelineListFilter,
  type PipelineStatusView,
  type PipelineSummary,
  type StartedPipeline,
} from './types.js';

type PipelineWorkflow = (input: PipelineWorkflowInput) => Promise<PipelineResult>;

interface OwnedResources {
  connection?: Connection;
  storage?: PipelineStorage;
}

/** How many runs' activity → step maps are kept for `getStatus`/`watch`. */
const ACTIVITY_STEP_CACHE_RUNS = 256;

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
  readonly #integration: IntegrationChecks;
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
    this.#integration = options.integration ?? {};
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
    let storage: PipelineStorage | undefined;
    try {
      // Only a client given a bucket loads the storage facade (and with it the AWS SDK).
      if (options.store) storage = (await import('../storage/inputs.js')).PipelineStorage.connect(options.store, options.presignTtlSeconds ?? DEFAULT_CLIENT_PRESIGN_TTL_SECONDS);
      const client = new Client({ connection, namespace: options.namespace ?? 'default', ...(options.payloadCodec ? { dataConverter: { payloadCodecs: [options.payloadCodec] } } : {}) });
      const pipelineClient = new PipelineClient({
        client,
        ...(storage ? { store: storage.store } : {}),
        ...(options.taskQueue !== undefined ? { taskQueue: options.taskQueue } : {}),
        ...(options.presignTtlSeconds !== undefined ? { presignTtlSeconds: options.presignTtlSeconds } : {}),
        ...(options.registry !== undefined ? { registry: options.registry } : {}),
        ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
        ...(options.integration !== undefined ? { integration: options.integration } : {}),
      });
      pipelineClient.#owned = { connection, ...(storage ? { storage } : {}) };
      return pipelineClient;
    } catch (error) {
      storage?.close();
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
    const integration = integrationIssuesOf(valid, this.#integration);
    if (integration.length > 0) throw new InvalidPipelineSpecError(integration);
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
        memo: { pipelineId, specSha256: digest, ...(valid.labels ? { labels: valid.labels } : {}), ...(valid.correlation ? { correlation: valid.correlation } : {}) },
        // Set at start so listings find the pipeline before its first workflow task runs.
        typedSearchAttributes: [{ key: pipelineStatusSearchAttribute, value: 'running' }, ...correlationAttributes(valid)],
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
      // The backend's ids, whatever the source of the progress (the memo has them from the start).
      ...correlationOfMemo(description.memo ?? {}),
      ...(isRecord(description.memo?.labels) ? { labels: description.memo.labels as Record<string, string> } : {}),
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
      addWaitingSteps(live, progress);
      return { ...progress, ...base, ...(Object.keys(live).length > 0 ? { live } : {}), gpu: gpuFactsOf(progress, new Date().toISOString()), source };
    }

    if (runStatus === 'COMPLETED') {
      const result = await handle.result();
      return { ...result, ...base, gpu: gpuFactsOf(result), source: 'result' };
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
    return { ...progress, ...base, ...(failure ? { failure } : {}), gpu: gpuFactsOf(progress), source: 'history' };
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
      const finished = await handle.result();
      result = { ...finished, gpu: gpuFactsOf(finished) };
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
    clauses.push(...correlationClauses(filter));
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
        ...correlationOfMemo(memo),
      });
      if (summaries.length >= limit) break;
    }
    return summaries;
  }

  /**
   * Stores an input file (a face image, a reference video…) in the bucket and returns its key, the
   * `ref` to put in a spec (`r2://<key>`: presigned by the worker at submit time, so history never
   * holds a signature) and a presigned URL for the caller's own use. Needs a `store`. The same as
   * {@link PipelineStorage.uploadInput} (`src/storage/inputs.ts`), which a backend may use on its own.
   */
  async uploadInput(input: { path: string } | { bytes: Uint8Array }, options: UploadInputOptions = {}): Promise<UploadedInput> {
    return (await this.#storage('uploadInput')).uploadInput(input, options);
  }

  /** A presigned GET URL for an output's R2 key (valid `presignTtlSeconds`). Needs a `store`. */
  async presignOutput(key: string): Promise<string> {
    return (await this.#storage('presignOutput')).presignOutput(key);
  }

  /** Closes what {@link connect} opened (the Temporal connection, the S3 client). Idempotent. */
  async close(): Promise<void> {
    const { connection, storage } = this.#owned;
    this.#owned = {};
    storage?.close();
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

  async #storage(operation: string): Promise<PipelineStorage> {
    if (!this.#store) throw new PipelineClientNotConfiguredError(`${operation} needs an object store: pass \`store\` to PipelineClient (CLI: set R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY)`);
    const { PipelineStorage } = await import('../storage/inputs.js');
    return new PipelineStorage(this.#store, this.#presignTtlSeconds);
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
    return liveStepStatuses(pending, steps, this.#converter);
  }
}

