import { randomUUID } from 'node:crypto';
import { Agent, request } from 'undici';
import type { JobFailurePlan } from './admin-types.js';
import { Counters } from './counters.js';
import { DeploymentStore, isoTimestamp, type Deployment, type DeploymentInit } from './deployments.js';
import { FaultRegistry } from './faults.js';
import { apiOutcome, failureError, type Job } from './jobs.js';
import { OutputStore, outputNodeIds } from './outputs.js';
import { Scheduler } from './scheduler.js';
import type { EmulatorSettings, JobTiming } from './settings.js';
import type { ValidatedSubmit } from './submit-validation.js';
import { WebhookDispatcher } from './webhooks.js';
import { applyOverrides } from './workflow-graph.js';

/** Fixed configuration of an emulator instance. */
export interface CoreConfig {
  token: string;
  adminToken: string | undefined;
  settings: EmulatorSettings;
  defaultTiming: JobTiming;
  seeds: DeploymentInit[];
  objectInfo: Record<string, unknown>;
  maxBodyBytes: number;
  random: () => number;
  log: (line: string) => void;
}

/** A request path prefix for inference calls: RunComfy documents v1 and newer clients use v2. */
export type InferenceApiVersion = 'v1' | 'v2';

function cloneSettings(settings: EmulatorSettings): EmulatorSettings {
  return { ...settings, webhook: { ...settings.webhook } };
}

/**
 * The emulator's state and the operations on it, independent of HTTP: deployments, the queue
 * model, outputs, counters, faults and webhooks.
 */
export class EmulatorCore {
  settings: EmulatorSettings;
  readonly deployments = new DeploymentStore();
  readonly counters = new Counters();
  readonly faults: FaultRegistry;
  readonly outputs = new OutputStore();
  readonly webhooks: WebhookDispatcher;
  readonly scheduler: Scheduler;
  readonly tokenBytes: Buffer;
  /** Base URL clients reach the emulator at; set once the server listens. */
  baseUrl = '';
  private readonly inputAgent = new Agent({ keepAliveTimeout: 1000 });
  private readonly sweepTimer: NodeJS.Timeout;

  constructor(readonly config: CoreConfig) {
    this.settings = cloneSettings(config.settings);
    this.tokenBytes = Buffer.from(config.token);
    this.faults = new FaultRegistry(config.random);
    this.webhooks = new WebhookDispatcher(() => this.settings.webhook, this.counters, config.log);
    this.scheduler = new Scheduler(this.deployments, {
      now: () => Date.now(),
      random: config.random,
      cancelDelayMs: () => this.settings.cancelDelayMs,
      onQueued: (job) => this.sendWebhook(job, 'in_queue', false),
      onStarted: (job) => this.jobStarted(job),
      completeJob: (job, deployment) => this.completeJob(job, deployment),
      onFinished: (job) => this.sendWebhook(job, apiOutcome(job.outcome ?? 'cancelled', this.settings.cancelledSpelling), true),
    });
    for (const seed of config.seeds) this.addDeployment(seed);
    for (const seed of config.seeds) this.deployments.catalog.set(seed.workflowId ?? seed.name, seed.workflowApiJson);
    // expired output records are dropped lazily on access; this sweep only bounds memory
    this.sweepTimer = setInterval(() => this.outputs.sweep(Date.now()), 60_000);
    this.sweepTimer.unref();
  }

  addDeployment(init: DeploymentInit): Deployment {
    const existing = init.id ? this.deployments.get(init.id) : undefined;
    if (existing) this.scheduler.removeDeployment(existing.id);
    const deployment = this.deployments.add(init, Date.now());
    this.scheduler.addDeployment(deployment);
    return deployment;
  }

  /** Creates a job for an accepted submit and queues it. */
  submit(deployment: Deployment, validated: ValidatedSubmit, apiVersion: InferenceApiVersion): Job {
    const requestId = randomUUID();
    const requestBase = `${this.baseUrl}/prod/${apiVersion}/deployments/${deployment.id}/requests/${requestId}`;
    const job: Job = {
      requestId,
      deploymentId: deployment.id,
      state: 'in_queue',
      outcome: undefined,
      overrides: validated.overrides,
      workflow: validated.workflow,
      dynamicWorkflow: validated.dynamicWorkflow,
      extraData: validated.extraData,
      webhook: validated.webhook,
      inputUrls: validated.inputUrls,
      submittedAtMs: Date.now(),
      startedAtMs: undefined,
      finishedAtMs: undefined,
      instanceId: undefined,
      plannedDurationMs: undefined,
      cancelRequestedAtMs: undefined,
      failure: this.planFailure(deployment),
      inputError: undefined,
      pendingInputFetch: undefined,
      outputs: undefined,
      error: undefined,
      outputsExpireAtMs: undefined,
      outputsPurged: false,
      timer: undefined,
      cancelTimer: undefined,
      queueSlot: -1,
      statusUrl: `${requestBase}/status`,
      resultUrl: `${requestBase}/result`,
      cancelUrl: `${requestBase}/cancel`,
    };
    this.counters.of(deployment.id).acceptedJobs++;
    this.scheduler.enqueue(job, deployment);
    return job;
  }

  /** True once a finished job's result and files are gone (TTL passed or purged by the admin API). */
  isPurged(job: Job, nowMs: number): boolean {
    return job.outputsPurged || (job.outputsExpireAtMs !== undefined && nowMs >= job.outputsExpireAtMs);
  }

  /** Forgets jobs, outputs, counters, faults and webhook records; restores seeded deployments and settings. */
  reset(): void {
    this.scheduler.clear();
    this.outputs.clear();
    this.counters.clear();
    this.faults.clear();
    this.webhooks.clear();
    this.deployments.clear();
    this.settings = cloneSettings(this.config.settings);
    for (const seed of this.config.seeds) this.addDeployment(seed);
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.scheduler.shutdown();
    await Promise.all([this.webhooks.close(), this.inputAgent.destroy().catch(() => undefined)]);
  }

  private planFailure(deployment: Deployment): JobFailurePlan | undefined {
    const fromFault = this.faults.takeJobFailure(deployment.id);
    if (fromFault) {
      this.counters.of(deployment.id).faultsInjected++;
      return fromFault;
    }
    if (deployment.failureRate > 0 && this.config.random() < deployment.failureRate) {
      return { kind: deployment.failureKind, errorShape: deployment.failureErrorShape ?? undefined };
    }
    return undefined;
  }

  private jobStarted(job: Job): void {
    this.sendWebhook(job, 'in_progress', false);
    if (this.settings.fetchInputUrls && job.inputUrls.length > 0) job.pendingInputFetch = this.fetchInputs(job);
  }

  /** Downloads the job's URL inputs as a RunComfy instance would; the first failure fails the job. */
  private async fetchInputs(job: Job): Promise<void> {
    for (const url of job.inputUrls) {
      try {
        const response = await request(url, { method: 'GET', dispatcher: this.inputAgent, signal: AbortSignal.timeout(30_000) });
        await response.body.dump();
        if (response.statusCode >= 400) {
          job.inputError = `Failed to download input ${url}: HTTP ${response.statusCode}`;
          return;
        }
      } catch (error) {
        job.inputError = `Failed to download input ${url}: ${(error as Error).message}`;
        return;
      }
    }
  }

  private completeJob(job: Job, deployment: Deployment | undefined): void {
    const finishedAtMs = job.finishedAtMs ?? Date.now();
    job.outputsExpireAtMs = finishedAtMs + this.settings.outputTtlMs;
    const graph = applyOverrides(job.workflow, job.overrides);
    const firstOutputNode = outputNodeIds(graph)[0];
    if (!deployment) {
      job.outcome = 'failed';
      job.error = failureError({ kind: 'transient', message: 'The deployment was deleted while the job ran.' }, this.settings.errorShape, undefined);
      return;
    }
    if (job.inputError) {
      job.outcome = 'failed';
      job.error = failureError({ kind: 'permanent', message: job.inputError }, this.settings.errorShape, undefined);
      return;
    }
    if (job.failure) {
      job.outcome = 'failed';
      job.error = failureError(job.failure, this.settings.errorShape, firstOutputNode);
      return;
    }
    job.outcome = 'succeeded';
    job.outputs = this.outputs.createForJob(job, deployment, graph, {
      baseUrl: this.baseUrl,
      expiresAtMs: job.outputsExpireAtMs,
      sizeBytes: deployment.outputSizeBytes ?? this.settings.outputSizeBytes,
    });
  }

  private sendWebhook(job: Job, eventStatus: string, isFinal: boolean): void {
    if (!job.webhook) return;
    if (!isFinal && !job.webhook.intermediate) return;
    const nowMs = Date.now();
    const payload: Record<string, unknown> = {
      request_id: job.requestId,
      deployment_id: job.deploymentId,
      status: eventStatus,
      created_at: isoTimestamp(job.submittedAtMs),
      updated_at: isoTimestamp(nowMs),
    };
    if (isFinal) {
      payload.outcome = eventStatus;
      payload.finished_at = isoTimestamp(job.finishedAtMs ?? nowMs);
    }
    if (job.instanceId !== undefined) payload.instance_id = job.instanceId;
    if (job.outcome === 'succeeded') {
      const field = this.settings.webhookOutputsField;
      if (field === 'outputs' || field === 'both') payload.outputs = job.outputs ?? {};
      if (field === 'output' || field === 'both') payload.output = job.outputs ?? {};
    }
    if (job.outcome === 'failed') payload.error = job.error;
    this.webhooks.send({ requestId: job.requestId, deploymentId: job.deploymentId, eventStatus, url: job.webhook.url, payload }, isFinal);
  }
}
