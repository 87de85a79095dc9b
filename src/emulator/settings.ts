/** How a cancelled job's status is spelled; RunComfy's sources use both. */
export const CANCELLED_SPELLINGS = ['cancelled', 'canceled'] as const;
export type CancelledSpelling = (typeof CANCELLED_SPELLINGS)[number];

/** Which field carries the outputs in webhook payloads; RunComfy's pages use both. */
export const WEBHOOK_OUTPUT_FIELDS = ['outputs', 'output', 'both'] as const;
export type WebhookOutputsField = (typeof WEBHOOK_OUTPUT_FIELDS)[number];

/** Shape of the `error` field of a failed job's result; RunComfy's sources show all three. */
export const ERROR_SHAPES = ['array', 'object', 'string'] as const;
export type ErrorShape = (typeof ERROR_SHAPES)[number];

/** Which field carries the message of an error response. */
export const ERROR_MESSAGE_FIELDS = ['message', 'error_message', 'both'] as const;
export type ErrorMessageField = (typeof ERROR_MESSAGE_FIELDS)[number];

/** Webhook delivery behaviour. */
export interface WebhookSettings {
  /** Attempts per event, first included (RunComfy retries for up to 24 h; keep this small in tests). */
  maxAttempts: number;
  /** Delay before the first retry; doubles on every further retry. */
  initialBackoffMs: number;
  /** Upper bound of the retry delay. */
  maxBackoffMs: number;
  /** A receiver must answer within this time (RunComfy: 10 s) or the attempt counts as failed. */
  timeoutMs: number;
  /** Extra copies sent of every successfully delivered event (at-least-once delivery made visible). */
  duplicates: number;
  /** Holds a job's intermediate events and sends them after its final event, newest first. */
  reorder: boolean;
  /**
   * Fraction of events (0..1) silently never delivered, as a lost webhook would be. Deterministic: a
   * running sum drops an event each time it crosses a whole number (0.5 drops every second event).
   */
  lossRate: number;
  /**
   * Forged calls sent to the same URL per event, once each and never retried: alternately the
   * event with the URL's `token` tampered, and a body naming another request_id, token tampered.
   */
  forged: number;
}

/** Job timing of a deployment. */
export interface JobTiming {
  /** Run time of a job once an instance picked it up. */
  durationMs: number;
  /** Each job's run time is `durationMs` plus a uniform random offset in [-jitterMs, +jitterMs]. */
  jitterMs: number;
  /** Time for a new instance to become ready when no warm instance is free. */
  coldStartMs: number;
  /** How long an idle instance above `min_instances` stays warm; unset = the deployment's `keep_warm_duration_in_seconds`. */
  keepWarmMs?: number | undefined;
}

/** Settings that can change at run time through the admin API (PATCH /__admin/settings). */
export interface EmulatorSettings {
  cancelledSpelling: CancelledSpelling;
  webhookOutputsField: WebhookOutputsField;
  /** Default shape of a failed job's `error` (a failure fault may choose its own). */
  errorShape: ErrorShape;
  errorMessageField: ErrorMessageField;
  /** HTTP status of an accepted submit: RunComfy documents 200, some clients also accept 202. */
  submitStatusCode: 200 | 202;
  /** Output files and results answer 404 this long after the job finished (RunComfy: 7 days). */
  outputTtlMs: number;
  /** Pad every output file to this many bytes (null = natural size, a few KiB). Per-deployment config overrides it. */
  outputSizeBytes: number | null;
  /** A cancel of a running job takes effect after this delay (0 = at once); the job may finish first. */
  cancelDelayMs: number;
  /** Accept http:// webhook URLs (RunComfy requires https). */
  allowHttpWebhooks: boolean;
  /** Accept http:// URLs as image/video inputs (RunComfy requires public https URLs; local S3 servers speak http). */
  allowHttpInputUrls: boolean;
  /** Download URL-valued media overrides when a job starts; a failed download fails the job, as on RunComfy. */
  fetchInputUrls: boolean;
  webhook: WebhookSettings;
}

/** Scaling defaults for seeded deployments. */
export interface ScalingDefaults {
  minInstances: number;
  maxInstances: number;
  queueSize: number;
  keepWarmSeconds: number;
  hardware: string;
}

/** Hardware SKUs RunComfy accepts. */
export const HARDWARE_SKUS = ['TURING_16', 'AMPERE_24', 'AMPERE_48', 'ADA_48_PLUS', 'AMPERE_80', 'ADA_80_PLUS', 'HOPPER_141'] as const;

/** Default job timing: one second per job, no cold start. */
export const DEFAULT_TIMING: JobTiming = { durationMs: 1000, jitterMs: 0, coldStartMs: 0 };

/** Default scaling of seeded deployments. */
export const DEFAULT_SCALING: ScalingDefaults = { minInstances: 0, maxInstances: 1, queueSize: 1, keepWarmSeconds: 60, hardware: 'AMPERE_48' };

/** Default run-time settings. */
export const DEFAULT_SETTINGS: EmulatorSettings = {
  cancelledSpelling: 'cancelled',
  webhookOutputsField: 'outputs',
  errorShape: 'array',
  errorMessageField: 'message',
  submitStatusCode: 200,
  outputTtlMs: 7 * 24 * 60 * 60 * 1000,
  outputSizeBytes: null,
  cancelDelayMs: 0,
  allowHttpWebhooks: false,
  allowHttpInputUrls: true,
  fetchInputUrls: false,
  webhook: { maxAttempts: 6, initialBackoffMs: 1000, maxBackoffMs: 60_000, timeoutMs: 10_000, duplicates: 0, reorder: false, lossRate: 0, forged: 0 },
};
