/**
 * Wire types of the emulator's admin API (/__admin/...). Shared by the server and
 * {@link EmulatorAdminClient}; nothing here touches Node APIs, so another process can import it.
 */
import type { EmulatorSettings, ErrorShape, JobTiming, WebhookSettings } from './settings.js';
import type { WorkflowGraph } from './workflow-graph.js';

/** Request counters of one deployment (or the total over all deployments). */
export interface DeploymentCounters {
  /** Every submit request that reached a deployment, accepted or not. */
  submits: number;
  /** Submits that created a job (including those whose response was then lost by a fault). */
  acceptedJobs: number;
  /** Submits answered with an error (validation, disabled deployment, fault...). */
  rejectedSubmits: number;
  statusReads: number;
  resultReads: number;
  cancels: number;
  /** Output file downloads (GET and HEAD). */
  downloads: number;
  /** Webhook POST attempts, retries and duplicate copies included. */
  webhookAttempts: number;
  /** Webhook attempts answered with 2xx. */
  webhookDeliveries: number;
  /** Webhook attempts that failed (non-2xx, timeout, connection error). */
  webhookFailures: number;
  /** Requests or jobs a fault rule applied to. */
  faultsInjected: number;
  /** Deployment management calls (create/get/list/update/delete) naming this deployment. */
  deploymentCalls: number;
}

/** GET /__admin/counters. */
export interface CountersSnapshot {
  total: DeploymentCounters;
  deployments: Record<string, DeploymentCounters>;
}

/** Internal job state; `status` is what the API shows for it. */
export type JobState = 'in_queue' | 'in_progress' | 'completed' | 'cancelled';
/** How a finished job ended. */
export type JobOutcome = 'succeeded' | 'failed' | 'cancelled';

/** A job as the admin API lists it. */
export interface JobSummary {
  request_id: string;
  deployment_id: string;
  state: JobState;
  outcome: JobOutcome | null;
  queue_position: number | null;
  instance_id: string | null;
  overrides: Record<string, unknown>;
  dynamic_workflow: boolean;
  webhook: { url: string; intermediate: boolean } | null;
  submitted_at_ms: number;
  started_at_ms: number | null;
  finished_at_ms: number | null;
  planned_duration_ms: number | null;
  cancel_requested_at_ms: number | null;
  failure: JobFailurePlan | null;
  outputs_expire_at_ms: number | null;
  outputs_purged: boolean;
}

/** One generated output file with what a test needs to check a copy of it. */
export interface OutputFileInfo {
  node_id: string;
  channel: string;
  filename: string;
  url: string;
  content_type: string;
  size_bytes: number;
  sha256: string;
}

/** A failure planned for a job: transient (infrastructure, worth retrying) or permanent (the request itself is bad). */
export interface JobFailurePlan {
  kind: 'transient' | 'permanent';
  errorShape?: ErrorShape | undefined;
  message?: string | undefined;
}

/** Per-deployment behaviour, changeable at run time (PATCH /__admin/deployments/{id}/config). */
export interface DeploymentConfig {
  timing: JobTiming;
  min_instances: number;
  max_instances: number;
  queue_size: number;
  keep_warm_duration_in_seconds: number;
  is_enabled: boolean;
  /** Probability (0..1) that a job of this deployment fails; 1 = every job fails until changed. */
  failureRate: number;
  failureKind: 'transient' | 'permanent';
  failureErrorShape: ErrorShape | null;
  /** Output file size for this deployment; null = use the global setting. */
  outputSizeBytes: number | null;
}

/** A patch of {@link DeploymentConfig}; `timing` may be partial. */
export type DeploymentConfigPatch = Partial<Omit<DeploymentConfig, 'timing'>> & { timing?: Partial<JobTiming> };

/** One GPU instance of a deployment. */
export interface InstanceSnapshot {
  instance_id: string;
  state: 'starting' | 'idle' | 'busy';
  request_id: string | null;
  created_at_ms: number;
  ready_at_ms: number | null;
}

/** GET /__admin/deployments: each deployment with its behaviour and live queue. */
export interface AdminDeploymentView {
  id: string;
  name: string;
  config: DeploymentConfig;
  instances: InstanceSnapshot[];
  queued: number;
  running: number;
}

/** POST /__admin/deployments: add a deployment directly from a graph (e.g. one with compound node ids). */
export interface AdminDeploymentSeed {
  name: string;
  workflow_api_json: WorkflowGraph;
  id?: string;
  min_instances?: number;
  max_instances?: number;
  queue_size?: number;
  keep_warm_duration_in_seconds?: number;
  hardware?: string;
  timing?: Partial<JobTiming>;
}

/** Operations a fault rule can target. */
export const FAULT_OPERATIONS = ['submit', 'status', 'result', 'cancel', 'download', 'deployments'] as const;
export type FaultOperation = (typeof FAULT_OPERATIONS)[number];

/** What a fault rule does. */
export const FAULT_KINDS = [
  /** 429 with Retry-After. */
  'rate_limit',
  /** 500 (JSON error body) or 502/503 (text body, as a proxy would send). */
  'server_error',
  /** Any status with a RunComfy error body (e.g. 403 with 10001 insufficient funds). */
  'error_response',
  /** HTTP 200 whose body is an error (`error_code` at top level). */
  'error_in_200',
  /** Wait `delayMs`, then answer normally. */
  'delay',
  /** Never answer; the connection stays open until the client gives up or the emulator closes. */
  'hang',
  /** HTTP 200 with a truncated JSON body. */
  'malformed_json',
  /** Destroy the connection without answering; nothing is done. */
  'drop_connection',
  /** Submit only: the job IS created, then the connection is destroyed before the answer. */
  'lost_response',
  /** Download only: Content-Length announces the whole file, the connection closes after `truncateAfterBytes`. */
  'truncated_download',
  /** The next matching jobs end failed (`failure` says how); the submit itself succeeds. */
  'job_failure',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** POST /__admin/faults body. */
export interface FaultRuleSpec {
  kind: FaultKind;
  /** Operations it applies to; default all (lost_response: submit; truncated_download: download). */
  operations?: FaultOperation[];
  /** Only requests for this deployment. */
  deploymentId?: string;
  /** How many matching requests/jobs it applies to; default 1; null = until removed. */
  count?: number | null;
  /** Chance (0..1) that a matching request is hit; default 1. */
  probability?: number;
  retryAfterSeconds?: number;
  statusCode?: number;
  errorCode?: number;
  message?: string;
  delayMs?: number;
  /** Download only, with `delay`: send the body at this rate (a slow link, for copies that must be caught mid-way). */
  bytesPerSecond?: number;
  truncateAfterBytes?: number;
  failure?: JobFailurePlan;
}

/** A fault rule in force. */
export interface FaultRule extends FaultRuleSpec {
  id: string;
  /** Applications left; null = unlimited. */
  remaining: number | null;
  hits: number;
  /** When the rule was applied (epoch ms, the last 100): lets a test check a client's retry spacing. */
  hitTimesMs: number[];
}

export type WebhookDeliveryKind = 'event' | 'duplicate' | 'lost' | 'forged_token' | 'forged_request';

/** One webhook event and its delivery attempts. */
export interface WebhookDeliveryRecord {
  delivery_id: string;
  request_id: string;
  deployment_id: string;
  event_status: string;
  url: string;
  /** 0 for the original, 1.. for duplicate copies. */
  copy: number;
  /**
   * `event` (the original), `duplicate` (an extra copy), `lost` (dropped by `lossRate`: never sent),
   * `forged_token` (the event with the URL's token tampered), `forged_request` (a body naming another
   * request_id, token tampered). Forged calls are sent once; `delivered` says a receiver accepted one.
   */
  kind: WebhookDeliveryKind;
  attempts: { at_ms: number; status_code: number | null; error: string | null }[];
  delivered: boolean;
  gave_up: boolean;
}

/** PATCH /__admin/settings body. */
export type SettingsPatch = Partial<Omit<EmulatorSettings, 'webhook'>> & { webhook?: Partial<WebhookSettings> };
