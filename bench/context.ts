/** What every benchmark section receives from the driver, and helpers they share. */
import type { JobSummary } from '../src/emulator/index.js';
import type { DeploymentRegistry } from '../src/pipeline/registry.js';
import type { BenchOptions, WaitMode } from './options.js';
import type { BenchStack, WorkerProcess } from './stack.js';

/**
 * Worker configurations the sections use:
 * - `fixed-poll`: POLL_INITIAL_INTERVAL_MS = POLL_MAX_INTERVAL_MS = --poll-interval-ms, so the worker
 *   reads statuses at one fixed interval, the same the baseline uses (overhead, scale);
 * - `default`: the worker's shipped defaults (api, copy), with the copy part and queue sizes of the flags;
 * - either with `+webhooks`: the same, plus the in-worker webhook receiver on a free loopback port,
 *   so each submit passes the emulator a webhook URL (bench/webhook-mode.ts).
 */
export type PollProfile = 'fixed-poll' | 'default';
export type WorkerProfile = PollProfile | `${PollProfile}+webhooks`;

export function workerProfile(poll: PollProfile, mode: WaitMode): WorkerProfile {
  return mode === 'webhooks' ? `${poll}+webhooks` : poll;
}

export interface BenchContext {
  options: BenchOptions;
  stack: BenchStack;
  /** Unique per run: prefixes pipeline ids and keys. */
  runId: string;
  /** r2:// reference of the face image stored in the bucket (presigned when a job is submitted). */
  faceImageUrl: string;
  registry: DeploymentRegistry;
  log(line: string): void;
  /** The running worker of this profile, (re)started when another profile ran before, or when `restart` asks for a fresh process. */
  worker(profile: WorkerProfile, options?: { restart?: boolean }): Promise<WorkerProcess>;
  /** The environment overrides of a profile (recorded with the results). */
  workerSettings(profile: WorkerProfile): Record<string, string>;
}

/** Forgets the emulator's jobs and counters, then gives every deployment a fixed job time (no jitter, no cold start). */
export async function resetEmulator(context: BenchContext, durationMs: number, outputSizeBytes: number | null = null): Promise<void> {
  const admin = context.stack.emulator.admin;
  await admin.reset();
  for (const deployment of await admin.deployments()) {
    await admin.updateDeploymentConfig(deployment.id, { timing: { durationMs, jitterMs: 0, coldStartMs: 0 }, outputSizeBytes });
  }
}

/** Jobs the emulator knows, by request id. */
export async function emulatorJobs(context: BenchContext): Promise<Map<string, JobSummary>> {
  return new Map((await context.stack.emulator.admin.jobs()).map((job) => [job.request_id, job]));
}
