import type { InstanceSnapshot } from './admin-types.js';
import type { Deployment, DeploymentStore } from './deployments.js';
import type { Job } from './jobs.js';
import { WaitingQueue } from './waiting-queue.js';

/** What the scheduler calls out to; the emulator core supplies webhooks, outputs and failures. */
export interface SchedulerHooks {
  now(): number;
  random(): number;
  cancelDelayMs(): number;
  onQueued(job: Job): void;
  onStarted(job: Job): void;
  /** Decides how a job that ran to the end came out: sets `outcome` and `outputs` or `error`. */
  completeJob(job: Job, deployment: Deployment | undefined): void;
  onFinished(job: Job): void;
}

interface Instance {
  id: string;
  state: 'starting' | 'idle' | 'busy';
  job: Job | undefined;
  /** Cold-start timer while starting, keep-warm timer while idle. */
  timer: NodeJS.Timeout | undefined;
  createdAtMs: number;
  readyAtMs: number | undefined;
}

interface Pool {
  deploymentId: string;
  queue: WaitingQueue<Job>;
  instances: Map<string, Instance>;
  instancesLaunched: number;
  running: number;
}

/** What cancel did: RunComfy's `outcome` values. */
export type CancelOutcome = 'cancelled' | 'not_cancellable';

/**
 * The queue model. Each deployment has a FIFO queue and a set of instances. A job starts as soon
 * as an instance is idle; when more jobs wait than `queue_size` per instance, another instance
 * starts (cold start delay) up to `max_instances`; an idle instance above `min_instances` stops
 * after the keep-warm time. Everything moves on timers: reading a status never does any work
 * beyond a map lookup and an O(log n) queue-position count.
 */
export class Scheduler {
  readonly jobs = new Map<string, Job>();
  private readonly pools = new Map<string, Pool>();
  private shutDown = false;

  constructor(
    private readonly deployments: DeploymentStore,
    private readonly hooks: SchedulerHooks,
  ) {}

  /** Creates the deployment's pool with `min_instances` warm instances (always-on capacity). */
  addDeployment(deployment: Deployment): void {
    const pool: Pool = { deploymentId: deployment.id, queue: new WaitingQueue<Job>(), instances: new Map(), instancesLaunched: 0, running: 0 };
    this.pools.set(deployment.id, pool);
    for (let i = 0; i < deployment.min_instances; i++) this.launch(pool, deployment, false);
  }

  /** Queues a new job and starts it right away when capacity allows. */
  enqueue(job: Job, deployment: Deployment): void {
    const pool = this.poolOf(deployment.id);
    this.jobs.set(job.requestId, job);
    pool.queue.push(job);
    this.hooks.onQueued(job);
    this.pump(pool, deployment);
  }

  /** Number of jobs ahead of a queued job, or undefined when it is not queued. */
  queuePosition(job: Job): number | undefined {
    if (job.state !== 'in_queue') return undefined;
    return this.pools.get(job.deploymentId)?.queue.positionOf(job);
  }

  cancel(job: Job): CancelOutcome {
    if (job.state === 'in_queue') {
      this.pools.get(job.deploymentId)?.queue.remove(job);
      this.finishCancelled(job);
      return 'cancelled';
    }
    if (job.state !== 'in_progress') return 'not_cancellable';
    if (job.cancelRequestedAtMs !== undefined) return 'cancelled';
    job.cancelRequestedAtMs = this.hooks.now();
    const delayMs = this.hooks.cancelDelayMs();
    // a delayed cancel races the job's own end, like a real one: whichever timer fires first wins
    if (delayMs > 0) job.cancelTimer = setTimeout(() => this.cancelRunning(job), delayMs);
    else this.cancelRunning(job);
    return 'cancelled';
  }

  /** Re-applies a deployment's scaling after its settings changed. */
  deploymentChanged(deployment: Deployment): void {
    const pool = this.pools.get(deployment.id);
    if (!pool) return;
    // stop idle instances beyond the new maximum right away; busy ones stop when their job ends
    for (const instance of pool.instances.values()) {
      if (pool.instances.size <= deployment.max_instances) break;
      if (instance.state !== 'busy') this.stopInstance(pool, instance);
    }
    for (const instance of pool.instances.values()) {
      if (instance.state === 'idle' && instance.timer) {
        clearTimeout(instance.timer);
        instance.timer = undefined;
      }
    }
    this.pump(pool, deployment);
  }

  /** Cancels every job of a deleted deployment and stops its instances. */
  removeDeployment(deploymentId: string): void {
    const pool = this.pools.get(deploymentId);
    if (!pool) return;
    for (const job of pool.queue.drain()) this.finishCancelled(job);
    for (const instance of pool.instances.values()) {
      if (instance.job) {
        clearTimeout(instance.job.timer);
        clearTimeout(instance.job.cancelTimer);
        this.finishCancelled(instance.job);
      }
      clearTimeout(instance.timer);
    }
    this.pools.delete(deploymentId);
  }

  instances(deploymentId: string): InstanceSnapshot[] {
    const pool = this.pools.get(deploymentId);
    if (!pool) return [];
    return [...pool.instances.values()].map((instance) => ({
      instance_id: instance.id,
      state: instance.state,
      request_id: instance.job?.requestId ?? null,
      created_at_ms: instance.createdAtMs,
      ready_at_ms: instance.readyAtMs ?? null,
    }));
  }

  /** Queued and running job counts of a deployment. */
  load(deploymentId: string): { queued: number; running: number; instances: number } {
    const pool = this.pools.get(deploymentId);
    return { queued: pool?.queue.size ?? 0, running: pool?.running ?? 0, instances: pool?.instances.size ?? 0 };
  }

  /** Jobs of a deployment waiting in queue order (admin listings). */
  queuedJobs(deploymentId: string): Job[] {
    const pool = this.pools.get(deploymentId);
    return pool ? [...pool.queue.members()] : [];
  }

  /** Stops every timer; jobs keep their last state. */
  stopAllTimers(): void {
    for (const job of this.jobs.values()) {
      clearTimeout(job.timer);
      clearTimeout(job.cancelTimer);
      job.timer = undefined;
      job.cancelTimer = undefined;
    }
    for (const pool of this.pools.values()) for (const instance of pool.instances.values()) clearTimeout(instance.timer);
  }

  /** Stops every timer for good: nothing starts or finishes afterwards (emulator close). */
  shutdown(): void {
    this.shutDown = true;
    this.stopAllTimers();
  }

  /** Forgets every job and pool (admin reset). */
  clear(): void {
    this.stopAllTimers();
    this.jobs.clear();
    this.pools.clear();
  }

  private poolOf(deploymentId: string): Pool {
    const pool = this.pools.get(deploymentId);
    if (!pool) throw new Error(`no pool for deployment ${deploymentId}`);
    return pool;
  }

  private pump(pool: Pool, deployment: Deployment): void {
    if (this.shutDown) return;
    this.assignIdleInstances(pool, deployment);
    let active = pool.instances.size;
    while ((pool.queue.size > deployment.queue_size * active || active < deployment.min_instances) && active < deployment.max_instances) {
      this.launch(pool, deployment, true);
      active++;
    }
    this.assignIdleInstances(pool, deployment);
    for (const instance of pool.instances.values()) {
      if (instance.state === 'idle' && !instance.timer) this.scheduleKeepWarm(pool, deployment, instance);
    }
  }

  private assignIdleInstances(pool: Pool, deployment: Deployment): void {
    if (pool.queue.size === 0) return;
    for (const instance of pool.instances.values()) {
      if (instance.state !== 'idle') continue;
      const job = pool.queue.shift();
      if (!job) return;
      this.start(pool, deployment, instance, job);
    }
  }

  private launch(pool: Pool, deployment: Deployment, cold: boolean): void {
    pool.instancesLaunched++;
    const now = this.hooks.now();
    const instance: Instance = {
      id: `${deployment.id.slice(0, 8)}-gpu-${pool.instancesLaunched}`,
      state: 'idle',
      job: undefined,
      timer: undefined,
      createdAtMs: now,
      readyAtMs: now,
    };
    pool.instances.set(instance.id, instance);
    if (cold && deployment.timing.coldStartMs > 0) {
      instance.state = 'starting';
      instance.readyAtMs = undefined;
      instance.timer = setTimeout(() => {
        instance.timer = undefined;
        instance.state = 'idle';
        instance.readyAtMs = this.hooks.now();
        const current = this.deployments.get(pool.deploymentId);
        if (current) this.pump(pool, current);
      }, deployment.timing.coldStartMs);
    }
  }

  private scheduleKeepWarm(pool: Pool, deployment: Deployment, instance: Instance): void {
    const keepWarmMs = deployment.timing.keepWarmMs ?? deployment.keep_warm_duration_in_seconds * 1000;
    instance.timer = setTimeout(() => {
      instance.timer = undefined;
      const current = this.deployments.get(pool.deploymentId);
      if (instance.state === 'idle' && current && pool.instances.size > current.min_instances) this.stopInstance(pool, instance);
    }, keepWarmMs);
  }

  private stopInstance(pool: Pool, instance: Instance): void {
    clearTimeout(instance.timer);
    pool.instances.delete(instance.id);
  }

  private start(pool: Pool, deployment: Deployment, instance: Instance, job: Job): void {
    clearTimeout(instance.timer);
    instance.timer = undefined;
    instance.state = 'busy';
    instance.job = job;
    pool.running++;
    job.state = 'in_progress';
    job.startedAtMs = this.hooks.now();
    job.instanceId = instance.id;
    const { durationMs, jitterMs } = deployment.timing;
    const plannedMs = Math.max(0, Math.round(durationMs + (this.hooks.random() * 2 - 1) * jitterMs));
    job.plannedDurationMs = plannedMs;
    job.timer = setTimeout(() => this.finish(job), plannedMs);
    this.hooks.onStarted(job);
  }

  private finish(job: Job): void {
    job.timer = undefined;
    // a job forgotten by a reset, or finishing after close (an input download outlived it), ends silently
    if (job.state !== 'in_progress' || this.shutDown || this.jobs.get(job.requestId) !== job) return;
    if (job.pendingInputFetch) {
      // the job cannot end before its inputs arrived
      const pending = job.pendingInputFetch;
      job.pendingInputFetch = undefined;
      void pending.then(() => this.finish(job));
      return;
    }
    clearTimeout(job.cancelTimer);
    job.cancelTimer = undefined;
    job.finishedAtMs = this.hooks.now();
    this.hooks.completeJob(job, this.deployments.get(job.deploymentId));
    job.state = 'completed';
    this.release(job);
    this.hooks.onFinished(job);
  }

  private cancelRunning(job: Job): void {
    job.cancelTimer = undefined;
    if (job.state !== 'in_progress') return;
    clearTimeout(job.timer);
    job.timer = undefined;
    this.finishCancelled(job);
    this.release(job);
  }

  private finishCancelled(job: Job): void {
    job.state = 'cancelled';
    job.outcome = 'cancelled';
    job.finishedAtMs = this.hooks.now();
    this.hooks.onFinished(job);
  }

  private release(job: Job): void {
    const pool = this.pools.get(job.deploymentId);
    const instance = job.instanceId ? pool?.instances.get(job.instanceId) : undefined;
    if (!pool || !instance || instance.job !== job) return;
    instance.job = undefined;
    pool.running--;
    instance.state = 'idle';
    const deployment = this.deployments.get(pool.deploymentId);
    if (!deployment) return;
    if (pool.instances.size > deployment.max_instances) this.stopInstance(pool, instance);
    this.pump(pool, deployment);
  }
}
