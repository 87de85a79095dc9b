/**
 * Inputs and outputs of the pipeline's activities: plain JSON, references only (URLs, R2 keys, sizes,
 * hashes), never bytes or secrets, because every value here is stored in workflow history.
 */
import type { Correlation } from '../pipeline/integration.js';
import type { DeploymentEntry } from '../pipeline/registry.js';
import type { PipelineSpec, PipelineStep } from '../pipeline/spec.js';
import type { PersistedOutput } from './pipeline-contract.js';

/** What to do when a submit may have reached RunComfy but its answer was lost. */
export type AmbiguousSubmitPolicy = 'fail' | 'resubmit';

/** Timing settings chosen by the worker's configuration and frozen into history by `preparePipeline`. */
export interface PipelineTimings {
  pollInitialIntervalMs: number;
  pollMaxIntervalMs: number;
  /** How soon a dead worker's poll is noticed and the poll resumes elsewhere. */
  pollHeartbeatTimeoutMs: number;
  /** First wait before resubmitting a job that failed for a transient cause; doubles each time. */
  jobRetryBackoffMs: number;
  submitTimeoutMs: number;
  persistHeartbeatTimeoutMs: number;
  /** Longest a copy of one step's outputs may take. */
  persistTimeoutMs: number;
  /** How long a cancelled pipeline lets a running copy go on before cancelling it (absent in older histories). */
  persistCancelGraceMs?: number;
  cancelTimeoutMs: number;
  /**
   * How long a step keeps retrying a copy while the object store is unavailable (connection
   * refused, timeouts, 5xx) before the step fails; never beyond RunComfy's output expiry.
   * Optional: timings frozen by older workers lack it.
   */
  storeOutageBudgetMs?: number;
  /** Longest pause between two copy attempts during a store outage. */
  storeOutageMaxBackoffMs?: number;
  /** How long stopping a RunComfy job is retried through RunComfy trouble before it is reported unconfirmed. */
  cancelRetryBudgetMs?: number;
  /**
   * Set when the worker passes RunComfy a webhook URL with each submit: status reads are then a
   * backstop, at most this far apart. Absent: webhooks are off and polling alone finds a job's end.
   */
  webhookBackstopIntervalMs?: number;
}

export interface PreparePipelineInput {
  spec: PipelineSpec;
}

/** A step's deployment, resolved from the registry and checked against the deployment's graph. */
export interface ResolvedStep {
  deploymentKey: string;
  deployment: DeploymentEntry;
  maxJobAttempts: number;
}

export interface PreparedPipeline {
  steps: Record<string, ResolvedStep>;
  timings: PipelineTimings;
  ambiguousSubmitPolicy: AmbiguousSubmitPolicy;
  outputUrlMode: 'presigned' | 'source';
  /** Where this pipeline's signed callbacks go (absent: none). The signing secret stays in the worker. */
  callbacks?: CallbackTarget;
  /** Per step id: the RunComfy hardware of its deployment, for the step's GPU facts. */
  hardware?: Record<string, string[]>;
}

/** A pipeline's callback destination and delivery limits. */
export interface CallbackTarget {
  url: string;
  /** How long one event is retried before it is recorded undelivered. */
  retryWindowMs: number;
  /** One delivery attempt's limit. */
  timeoutMs: number;
}

/** Where a wired parameter's value comes from: an output persisted by an earlier step. */
export interface StepInputRef {
  fromStep: string;
  key: string;
  sourceUrl: string;
}

export interface SubmitJobInput {
  pipelineId: string;
  step: PipelineStep;
  attempt: number;
  deploymentKey: string;
  deployment: DeploymentEntry;
  inputs: Record<string, StepInputRef>;
  outputUrlMode: 'presigned' | 'source';
}

export interface SubmitJobResult {
  requestId: string;
}

export type AwaitPhase = 'queue' | 'run';

export interface AwaitJobInput {
  deploymentId: string;
  requestId: string;
  /** `queue`: return once the job runs (or ends); `run`: return once it ends. */
  phase: AwaitPhase;
  budgetMs: number;
  /** When the phase began, as epoch ms from workflow time: budgets survive worker restarts. */
  phaseStartedAtMs: number;
  initialIntervalMs: number;
  maxIntervalMs: number;
  /** Read the job's result as soon as it is terminal and return it: one activity less per step. */
  includeResult?: boolean;
  /** Wait this long before the first read (the caller has just seen the job's status). */
  firstReadDelayMs?: number;
  /** For metrics only. */
  stepKind?: string;
  /**
   * Queue phase: also return (`queued`) when RunComfy reports a queue position other than
   * `knownQueuePosition`, so the workflow can tell the backend; the caller then waits again.
   */
  returnOnQueueMove?: boolean;
  knownQueuePosition?: number;
}

export interface AwaitJobResult {
  /** Normalised: queued (only with `returnOnQueueMove`), running, completed, cancelled (completed covers succeeded and failed). */
  status: 'queued' | 'running' | 'completed' | 'cancelled';
  statusReads: number;
  /** With `queued`: the new queue position. */
  queuePosition?: number;
  /** With `includeResult`, once the job is terminal. */
  result?: FetchJobResultOutput;
}

/** Heartbeat details of a poll: shown by `describe` while the step waits. */
export interface AwaitJobHeartbeat {
  requestId: string;
  status: string;
  queuePosition?: number;
  statusReads: number;
}

/** Longest one status (+ result) read may take; its activity's timeout is a little longer. */
export const STATUS_READ_TIMEOUT_MS = 20_000;

/** One read of a job's status, as a short activity between durable timers. */
export interface ReadJobInput {
  deploymentId: string;
  requestId: string;
  /** For metrics only. */
  stepKind?: string;
  /** When the run phase began (epoch ms, workflow time): GPU time is counted once the job is seen ending. */
  runStartedAtMs?: number;
  /**
   * Wait this long before reading (under a second: the server rounds shorter durable timers up to
   * one second, so a sub-second pause is taken inside the read instead).
   */
  delayMs?: number;
}

export interface ReadJobResult {
  /** Normalised status; `unreadable` when RunComfy answered with a retryable error (read again later). */
  status: 'queued' | 'running' | 'completed' | 'cancelled' | 'unreadable';
  /** RunComfy's own status word, for progress. */
  remoteStatus?: string;
  queuePosition?: number;
  /** Once the job is terminal: its result, read in the same activity. */
  result?: FetchJobResultOutput;
  /** With `unreadable`: how long the server asked to wait, and why the read failed (an error code, never a URL). */
  retryAfterMs?: number;
  reason?: string;
}

export interface FetchJobResultInput {
  deploymentId: string;
  requestId: string;
  /** For metrics only. */
  stepKind?: string;
}

export interface JobOutputRef {
  nodeId: string;
  channel: string;
  filename: string;
  url: string;
  media: 'image' | 'video' | 'audio' | 'other';
}

export interface FetchJobResultOutput {
  outcome: 'succeeded' | 'failed' | 'cancelled';
  outputs: JobOutputRef[];
  /** The remote error, flattened to one line, when the job failed. */
  error?: string;
  /** Whether another attempt could succeed (e.g. out of memory, lost instance), as opposed to a bad graph or input. */
  transient?: boolean;
  /** RunComfy's own `created_at` and `finished_at` of the job, when its result gives both (GPU facts prefer them). */
  remoteTimes?: { createdAt: string; finishedAt: string };
}

export interface PersistOutputsInput {
  pipelineId: string;
  stepId: string;
  requestId: string;
  outputs: JobOutputRef[];
  /** The job attempt that made these files; from the second attempt on it is part of the keys. */
  attempt?: number;
  /** For metrics only: the step's kind and when it started (epoch ms, workflow time). */
  stepKind?: string;
  stepStartedAtMs?: number;
  /** The pipeline's own key layout (spec.outputKeyTemplate) and the values it may use. */
  keyTemplate?: { template: string; correlation?: Correlation; labels?: Record<string, string> };
}

export interface PersistOutputsHeartbeat {
  bytesCopied: number;
  filesDone: number;
  filesTotal: number;
}

export interface PersistOutputsResult {
  outputs: PersistedOutput[];
}

export interface CancelJobInput {
  deploymentId: string;
  requestId: string;
  /** How long to keep reading status until the job is terminal. */
  confirmWithinMs: number;
  /**
   * Keep retrying the cancel through retryable RunComfy errors for this long, then report
   * `unconfirmed` (instead of failing). Absent in older histories: one try, errors thrown.
   */
  retryForMs?: number;
  /** For logs only. */
  stepId?: string;
  /**
   * When the job was first seen running (epoch ms, workflow time), for jobs waited on without a poll
   * activity: its GPU time is counted once the cancel is done.
   */
  runStartedAtMs?: number;
}

export interface CancelJobResult {
  outcome: 'cancelled' | 'not_cancellable' | 'unconfirmed';
  finalStatus?: string;
}
