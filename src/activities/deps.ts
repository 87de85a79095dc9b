import type { IntegrationSettings } from '../callbacks/config.js';
import type { DeploymentRegistry } from '../pipeline/registry.js';
import type { RunComfyClient } from '../runcomfy/client.js';
import type { AmbiguousSubmitPolicy, PipelineTimings } from '../contract/activity-contract.js';

/** The part of the object store the activities use. */
export interface OutputStore {
  persistFromUrl(args: {
    sourceUrl: string;
    key: string;
    contentType?: string;
    signal?: AbortSignal;
    onProgress?: (bytesCopied: number) => void;
    requestId?: string;
    stagingName?: string;
  }): Promise<{ key: string; bytes: number; sha256: string; contentType: string; alreadyPresent: boolean; reusedBytes?: number }>;
  presignGet(key: string, options: { expiresInSeconds: number }): Promise<string>;
}

/** Counters and timings the activities report; the worker backs them with Prometheus. */
export interface PipelineMetrics {
  jobSubmitted(kind: string, deploymentKey: string): void;
  submitFailed(kind: string, outcome: 'rejected' | 'unknown'): void;
  statusRead(): void;
  bytesCopied(bytes: number): void;
  jobFinished(kind: string, outcome: string): void;
  jobCancelled(outcome: string): void;
  /** Bytes of a copy that a crashed attempt had already uploaded (resumed, not sent again). */
  copyResumed?(bytes: number): void;
  stepSucceeded(kind: string, durationSeconds: number): void;
  /** One callback delivery attempt and the HTTP status it got. */
  callbackAttempt?(httpStatus: number): void;
  /** GPU time of a job on a deployment (its run phase, seconds), when the job ends or is cancelled. */
  gpuSeconds?(deploymentId: string, seconds: number): void;
}

export const noMetrics: PipelineMetrics = {
  jobSubmitted: () => undefined,
  submitFailed: () => undefined,
  statusRead: () => undefined,
  bytesCopied: () => undefined,
  jobFinished: () => undefined,
  jobCancelled: () => undefined,
  stepSucceeded: () => undefined,
};

export interface ActivitySettings {
  timings: PipelineTimings;
  ambiguousSubmitPolicy: AmbiguousSubmitPolicy;
  /** Default for pipelines that do not choose: how later steps receive earlier outputs. */
  outputUrlMode: 'presigned' | 'source';
  /** Lifetime of presigned URLs handed to RunComfy; must outlast a job's queue and run time. */
  presignTtlSeconds: number;
  /** How long a deployment's graph is trusted before it is read again. */
  deploymentCacheTtlMs: number;
  /** Output files copied at once by this worker (each holds partSize × (queueSize + 1) bytes). */
  maxConcurrentCopies: number;
  /** Output key prefixes, callback hosts and delivery settings (absent: no templates, no callbacks). */
  integration?: IntegrationSettings;
}

/** Everything the activities need, made once by the worker. */
export interface ActivityDeps {
  runcomfy: RunComfyClient;
  store: OutputStore;
  /** Read on every preparation, so a registry reload takes effect for new pipelines. */
  registry: () => DeploymentRegistry;
  settings: ActivitySettings;
  metrics?: PipelineMetrics;
  /** Signs callbacks; only the delivery activity reads it. */
  callbackSecret?: string;
  /** Webhooks as nudges: present when WEBHOOK_PUBLIC_URL is set. Its secrets sign each submit's URL. */
  webhooks?: { publicUrl: string; secrets: readonly string[]; backstopIntervalMs: number };
}
