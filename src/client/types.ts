/**
 * Public types of the pipeline client: the status view, list entries, start and upload results.
 */
import type { Client, WorkflowExecutionStatusName } from '@temporalio/client';
import type { PayloadCodec } from '@temporalio/common';
import type { DeploymentRegistry } from '../pipeline/registry.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { ObjectStoreConfig } from '../storage/s3-client.js';
import type { PipelineProgress, PipelineStatus } from '../contract/pipeline-contract.js';
import type { Correlation } from '../pipeline/integration.js';
import type { IntegrationChecks } from './correlation.js';
import type { PipelineFailureInfo } from './errors.js';

/** Temporal's status of the pipeline's workflow run: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT… */
export type PipelineRunStatus = WorkflowExecutionStatusName;

/** What a running step's current activity reports through its heartbeats (from Temporal's describe). */
export interface LiveStepStatus {
  /**
   * The activity in flight: `persistOutputs` while copying to R2; while the job queues or runs,
   * `waitForJob` (no activity: a durable timer between short status reads; pipelines started before
   * that change show their long poll, `awaitJob`).
   */
  activity: string;
  /** `scheduled` (waiting for a worker), `started`, `cancel-requested`; `timer` for `waitForJob`. */
  activityState: 'scheduled' | 'started' | 'cancel-requested' | 'timer' | 'unknown';
  /** Attempt number of that activity (above 1 after a worker crash or a transient error). */
  attempt: number;
  /** RunComfy request being waited on. */
  requestId?: string;
  /** RunComfy status at the last poll (in_queue, in_progress, …). */
  remoteStatus?: string;
  /** Place in RunComfy's queue at the last poll, when queued. */
  queuePosition?: number;
  /** Status reads so far by this poll. */
  statusReads?: number;
  /** Bytes copied to R2 so far by this step's copy. */
  bytesCopied?: number;
  filesDone?: number;
  filesTotal?: number;
  /** ISO time of the last heartbeat (for `waitForJob`: of the last status read). */
  lastHeartbeatAt?: string;
  /** `waitForJob`: when the next backstop read happens at the latest (a webhook may prompt one sooner). */
  nextReadBy?: string;
  /** `waitForJob`: whether webhooks are expected to announce the job's changes. */
  webhooks?: boolean;
  /** Message of the last failed attempt of this activity, when it is being retried. */
  lastFailure?: string;
}

/**
 * A pipeline's status: the workflow's own progress (steps, attempts, request ids, persisted
 * outputs) plus what only Temporal knows (the run status, live heartbeat details, the failure).
 */
export type PipelineStatusView = PipelineProgress & {
  workflowId: string;
  runId: string;
  runStatus: PipelineRunStatus;
  /** Per step id, for steps with an activity in flight (running pipelines only). */
  live?: Record<string, LiveStepStatus>;
  /** Why the pipeline failed (failed, terminated or timed-out runs). */
  failure?: PipelineFailureInfo;
  /** Path of the run in the Temporal Web UI, to append to the UI's base URL. */
  webUiPath?: string;
  /**
   * Where the progress came from: `query` (the running workflow answered), `result` (a completed
   * run's result), or `history` (rebuilt from the event history: closed runs without a result, or a
   * running workflow that could not answer, e.g. no worker is running).
   */
  source: 'query' | 'result' | 'history';
};

/** Statuses {@link PipelineClient.list} can filter on. */
export const PIPELINE_LIST_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
/** One of {@link PIPELINE_LIST_STATUSES}. */
export type PipelineListStatus = (typeof PIPELINE_LIST_STATUSES)[number];

/** Filter of {@link PipelineClient.list}. */
export interface PipelineListFilter {
  status?: PipelineListStatus;
  /** Only pipelines started at or after this time. */
  since?: Date;
  /** At most this many, newest first (default 100). */
  limit?: number;
  /** Only pipelines started with this `correlation.userId` (a UUID). */
  userId?: string;
  /** Only pipelines started with this `correlation.characterId` (a UUID). */
  characterId?: string;
  /** Only pipelines carrying every one of these labels. */
  labels?: Record<string, string>;
}

/** One pipeline in a listing (from Temporal's visibility store: eventually consistent, seconds behind at most). */
export interface PipelineSummary {
  pipelineId: string;
  workflowId: string;
  runId: string;
  /** The pipeline's status, from its `PipelineStatus` search attribute and the run status. */
  status: PipelineStatus;
  runStatus: PipelineRunStatus;
  startedAt: string;
  closedAt?: string;
  taskQueue: string;
  /** The spec's labels, when it had any. */
  labels?: Record<string, string>;
  /** The backend's ids the pipeline was started with. */
  correlation?: Correlation;
}

/** Result of {@link PipelineClient.start}. */
export interface StartedPipeline {
  pipelineId: string;
  workflowId: string;
  runId: string;
  /** True when this exact spec was already started under this id: nothing new was started. */
  alreadyStarted: boolean;
}

/** Result of {@link PipelineClient.uploadInput}; defined beside the storage facade. */
export type { UploadedInput } from '../storage/inputs.js';

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
  /**
   * The worker's output key prefixes and callback hosts: given here, a spec outside them is refused
   * by `start` and nothing is started (the worker refuses it too, before any job is submitted).
   */
  integration?: IntegrationChecks;
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
