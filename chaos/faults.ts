/**
 * The fault injectors. Each kind is one function; the seeded PRNG picks its target and its shape
 * (which operation, which status, how long). Emulator faults go through its admin API, process
 * faults through the devstack, cancels and duplicate starts through the client library.
 */
import type { FaultRuleSpec } from '../src/emulator/admin-types.js';
import type { PipelineClient } from '../src/client/index.js';
import type { FaultKind } from './options.js';
import type { Prng } from './prng.js';
import { LARGE_DEPLOYMENT, type ChaosStack, type SubmitPolicy } from './stack.js';
import type { PlannedPipeline } from './workload.js';
import { pipelineMarker } from './workload.js';
import { webhookInjectors } from './webhook-faults.js';

export interface CancelRecord {
  method: 'signal' | 'temporal';
  sentAtMs: number;
  /** The client call answered (a cancel of a closed pipeline may be refused). */
  ok: boolean;
  error?: string;
}

export interface PipelineRecord {
  planned: PlannedPipeline;
  startedAtMs?: number;
  startError?: string;
  cancels: CancelRecord[];
  duplicateStarts: { atMs: number; differentSpec: boolean; alreadyStarted?: boolean; error?: string }[];
  /** Request ids whose outputs the campaign expired. */
  expiredRequests: string[];
}

export interface InjectedFault {
  kind: FaultKind;
  atMs: number;
  endMs?: number;
  detail: string;
  pipelineId?: string;
  /** The injection itself could not be done (e.g. no pipeline to target); not counted. */
  skipped?: boolean;
  /**
   * An emulator rule waits for the next matching request, whenever it comes: its effect may land
   * until the wind-down clears the rules, so that is when it ends.
   */
  lingers?: boolean;
  /** The emulator rule's id, to see when it has been used up. */
  ruleId?: string;
}

export interface FaultContext {
  stack: ChaosStack;
  clients: Record<SubmitPolicy, PipelineClient>;
  records: Map<string, PipelineRecord>;
  maxOutageSeconds: number;
  log: (line: string) => void;
  /** Process faults (workers, Temporal, S3) run one at a time: the campaign never has every worker dead. */
  infraLock: { chain: Promise<void> };
  /** Set once the fault window is over: long faults end early. */
  winding: { down: boolean };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Retries a client call through a Temporal restart (the server is back within seconds); the service's own refusals are answers. */
export async function patiently<T>(what: () => Promise<T>, budgetMs = 60_000): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (;;) {
    try {
      return await what();
    } catch (error) {
      const name = error instanceof Error ? error.name : '';
      if (name.startsWith('Pipeline') || name === 'InvalidPipelineSpecError' || name === 'WorkflowNotFoundError' || Date.now() > deadline) throw error;
      await sleep(500);
    }
  }
}

export async function sleepUnlessWinding(ctx: FaultContext, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end && !ctx.winding.down) await sleep(Math.min(500, end - Date.now()));
}

function withInfraLock(ctx: FaultContext, work: () => Promise<void>): Promise<void> {
  const run = ctx.infraLock.chain.then(work);
  ctx.infraLock.chain = run.catch(() => undefined);
  return run;
}

/** A started pipeline that has not closed yet (checked with Temporal), or undefined. */
export async function pickRunningPipeline(ctx: FaultContext, prng: Prng): Promise<PipelineRecord | undefined> {
  // The most recently started ones: older pipelines have mostly closed by now.
  const started = [...ctx.records.values()]
    .filter((r) => r.startedAtMs !== undefined)
    .sort((a, b) => b.startedAtMs! - a.startedAtMs!)
    .slice(0, 12);
  for (let tries = 0; tries < 6 && started.length > 0; tries += 1) {
    const candidate = started.splice(prng.int(0, started.length - 1), 1)[0]!;
    const client = ctx.clients[candidate.planned.policy];
    try {
      const description = await client.client.workflow.getHandle(`pipeline-${candidate.planned.pipelineId}`).describe();
      if (description.status.name === 'RUNNING') return candidate;
    } catch {
      // Temporal may be restarting: try another one.
    }
  }
  return undefined;
}

function requestFault(ctx: FaultContext, spec: FaultRuleSpec, fault: InjectedFault): Promise<string> {
  fault.lingers = true;
  return ctx.stack.admin.addFault(spec).then((rule) => {
    fault.ruleId = rule.id;
    return rule.id;
  });
}

type Injector = (ctx: FaultContext, prng: Prng, fault: InjectedFault) => Promise<void>;

const injectors: Record<FaultKind, Injector> = {
  'worker-kill': (ctx, prng, fault) =>
    withInfraLock(ctx, async () => {
      const slot = prng.pick(ctx.stack.workers);
      fault.detail = `SIGKILL worker ${slot.index} (${slot.policy} queue, generation ${slot.generation})`;
      await ctx.stack.stopWorker(slot, 'SIGKILL');
      await sleepUnlessWinding(ctx, prng.int(1_000, 8_000));
      ctx.stack.startWorker(slot);
    }),
  'worker-restart': (ctx, prng, fault) =>
    withInfraLock(ctx, async () => {
      const slot = prng.pick(ctx.stack.workers);
      fault.detail = `SIGTERM worker ${slot.index} (${slot.policy} queue), then a new one`;
      await ctx.stack.stopWorker(slot, 'SIGTERM');
      ctx.stack.startWorker(slot);
    }),
  'temporal-restart': (ctx, prng, fault) =>
    withInfraLock(ctx, async () => {
      fault.detail = 'SIGKILL the Temporal dev server and start it again on its SQLite file';
      const startedAt = Date.now();
      await ctx.stack.local.temporal!.restart({ kill: true });
      fault.detail += ` (back after ${Date.now() - startedAt} ms)`;
      // The next process fault waits a little: back-to-back restarts say nothing new.
      await sleepUnlessWinding(ctx, prng.int(2_000, 6_000));
    }),
  's3-outage': (ctx, prng, fault) =>
    withInfraLock(ctx, async () => {
      const seconds = prng.int(5, Math.max(5, ctx.maxOutageSeconds));
      const kill = prng.chance(0.5);
      fault.detail = `radosgw ${kill ? 'SIGKILL' : 'stopped'} for ${seconds} s`;
      await ctx.stack.s3.stopGateway({ kill });
      try {
        await sleepUnlessWinding(ctx, seconds * 1000);
      } finally {
        await ctx.stack.s3.startGateway();
      }
    }),
  'rate-limit': async (ctx, prng, fault) => {
    const operation = prng.pick(['submit', 'status', 'result'] as const);
    const retryAfterSeconds = prng.int(1, 4);
    const count = prng.int(1, 4);
    fault.detail = `${count} × 429 Retry-After ${retryAfterSeconds} s on ${operation}`;
    await requestFault(ctx, { kind: 'rate_limit', operations: [operation], retryAfterSeconds, count }, fault);
  },
  'server-error': async (ctx, prng, fault) => {
    const operation = prng.pick(['submit', 'status', 'result', 'download', 'cancel'] as const);
    const statusCode = prng.pick([500, 502, 503, 504]);
    const count = prng.int(1, 3);
    fault.detail = `${count} × ${statusCode} on ${operation}`;
    await requestFault(ctx, { kind: 'server_error', operations: [operation], statusCode, count }, fault);
  },
  'lost-response': async (ctx, _prng, fault) => {
    fault.detail = 'the next submit creates its job, then its answer is lost';
    await requestFault(ctx, { kind: 'lost_response', operations: ['submit'], count: 1 }, fault);
  },
  hang: async (ctx, prng, fault) => {
    const operation = prng.pick(['submit', 'status', 'result', 'download'] as const);
    fault.detail = `the next ${operation} never answers`;
    await requestFault(ctx, { kind: 'hang', operations: [operation], count: 1 }, fault);
  },
  'truncated-download': async (ctx, prng, fault) => {
    const count = prng.int(1, 2);
    fault.detail = `${count} download(s) cut short`;
    await requestFault(ctx, { kind: 'truncated_download', operations: ['download'], count }, fault);
  },
  'expired-download': async (ctx, prng, fault) => {
    // A job of a running pipeline that is about to finish: its outputs expire the moment it does,
    // racing the copy. The pipeline may then fail with OutputExpired (and only with that).
    const record = await pickRunningPipeline(ctx, prng);
    if (!record) {
      fault.skipped = true;
      fault.detail = 'no running pipeline';
      return;
    }
    fault.pipelineId = record.planned.pipelineId;
    const marker = pipelineMarker(record.planned.pipelineId);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !ctx.winding.down) {
      const jobs = (await ctx.stack.admin.jobs({ state: 'completed' })).filter(
        (j) => j.outcome === 'succeeded' && !j.outputs_purged && JSON.stringify(j.overrides).includes(marker) && Date.now() - (j.finished_at_ms ?? 0) < 2_000,
      );
      const job = jobs[0];
      if (job) {
        await ctx.stack.admin.expireOutputs(job.request_id);
        record.expiredRequests.push(job.request_id);
        fault.detail = `outputs of ${job.request_id} expired ${Date.now() - (job.finished_at_ms ?? 0)} ms after it finished`;
        return;
      }
      await sleep(150);
    }
    fault.skipped = true;
    fault.detail = `no job of ${record.planned.pipelineId} finished within 30 s`;
  },
  'transient-job-failure': async (ctx, prng, fault) => {
    const count = prng.int(1, 2);
    fault.detail = `the next ${count} job(s) fail transiently`;
    await requestFault(ctx, { kind: 'job_failure', count, failure: { kind: 'transient' } }, fault);
  },
  'permanent-job-failure': async (ctx, _prng, fault) => {
    fault.detail = 'the next job fails permanently';
    await requestFault(ctx, { kind: 'job_failure', count: 1, failure: { kind: 'permanent' } }, fault);
  },
  'slow-queue': async (ctx, prng, fault) => {
    const key = prng.pick(['flux-t2i', 'reactor-faceswap', 'ultimate-upscale', 'wan-i2v', LARGE_DEPLOYMENT.key]);
    const id = ctx.stack.deploymentIds[key]!;
    const seconds = prng.int(10, 40);
    const before = await ctx.stack.admin.deploymentConfig(id);
    fault.detail = `${key}: one instance, 6 s jobs, for ${seconds} s`;
    await ctx.stack.admin.updateDeploymentConfig(id, { max_instances: 1, timing: { durationMs: 6_000 } });
    try {
      await sleepUnlessWinding(ctx, seconds * 1000);
    } finally {
      await ctx.stack.admin.updateDeploymentConfig(id, { max_instances: before.max_instances, timing: { durationMs: before.timing.durationMs } });
    }
  },
  'cancel-signal': (ctx, prng, fault) => cancel(ctx, prng, fault, 'signal'),
  'cancel-temporal': (ctx, prng, fault) => cancel(ctx, prng, fault, 'temporal'),
  'duplicate-start': async (ctx, prng, fault) => {
    const started = [...ctx.records.values()].filter((r) => r.startedAtMs !== undefined);
    if (started.length === 0) {
      fault.skipped = true;
      fault.detail = 'no pipeline started yet';
      return;
    }
    // Mostly a recent one (still running), sometimes any (possibly closed: ids never run twice).
    const record = prng.chance(0.7) ? started[started.length - 1 - prng.int(0, Math.min(4, started.length - 1))]! : prng.pick(started);
    fault.pipelineId = record.planned.pipelineId;
    // Sometimes with a different spec under the same id: that must be refused, never run.
    const differentSpec = prng.chance(0.3);
    const spec = differentSpec ? { ...record.planned.spec, steps: record.planned.spec.steps.slice(0, 1) } : record.planned.spec;
    const entry: PipelineRecord['duplicateStarts'][number] = { atMs: Date.now(), differentSpec };
    record.duplicateStarts.push(entry);
    try {
      const again = await patiently(() => ctx.clients[record.planned.policy].start(spec));
      entry.alreadyStarted = again.alreadyStarted;
      fault.detail = `start again${differentSpec ? ' with a different spec' : ''}: alreadyStarted=${again.alreadyStarted}`;
    } catch (error) {
      entry.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      fault.detail = `start again${differentSpec ? ' with a different spec' : ''}: ${entry.error}`;
    }
  },
  ...webhookInjectors,
};

/** Step states a cancel may aim at: the moments where races hide. */
const CANCEL_MOMENTS = { submit: ['submitting'], copy: ['persisting', 'fetching-result'], backoff: ['retry-backoff'] } as const;

/**
 * A running pipeline, preferably one in the moment `aim` names (read from its progress through the
 * client); any running one when none is there right now.
 */
async function pickCancelTarget(ctx: FaultContext, prng: Prng, aim: keyof typeof CANCEL_MOMENTS | 'any'): Promise<{ record: PipelineRecord; moment: string } | undefined> {
  const fallback = await pickRunningPipeline(ctx, prng);
  if (aim === 'any' || !fallback) return fallback ? { record: fallback, moment: 'any' } : undefined;
  const deadline = Date.now() + 8_000;
  while (Date.now() < deadline && !ctx.winding.down) {
    const started = [...ctx.records.values()].filter((r) => r.startedAtMs !== undefined && r.cancels.length === 0).slice(-12);
    for (const record of started) {
      try {
        const view = await ctx.clients[record.planned.policy].getStatus(record.planned.pipelineId);
        if (view.runStatus !== 'RUNNING') continue;
        const step = view.steps.find((st) => (CANCEL_MOMENTS[aim] as readonly string[]).includes(st.state));
        if (step) return { record, moment: `${aim} (step ${step.id} ${step.state})` };
      } catch {
        // not answering right now: another one
      }
    }
    await sleep(250);
  }
  return { record: fallback, moment: `any (nothing in ${aim} within 8 s)` };
}

async function cancel(ctx: FaultContext, prng: Prng, fault: InjectedFault, method: 'signal' | 'temporal'): Promise<void> {
  const target = await pickCancelTarget(ctx, prng, prng.pick(['any', 'submit', 'copy', 'backoff'] as const));
  const record = target?.record;
  if (!record) {
    fault.skipped = true;
    fault.detail = 'no running pipeline';
    return;
  }
  fault.pipelineId = record.planned.pipelineId;
  const client = ctx.clients[record.planned.policy];
  const entry: CancelRecord = { method, sentAtMs: Date.now(), ok: false };
  record.cancels.push(entry);
  try {
    if (method === 'signal') await patiently(() => client.cancel(record.planned.pipelineId, 'chaos campaign', 'chaos'));
    else await patiently(() => client.client.workflow.getHandle(`pipeline-${record.planned.pipelineId}`).cancel());
    entry.ok = true;
    fault.detail = `cancelled by ${method} during ${target.moment}`;
  } catch (error) {
    entry.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    fault.detail = `cancel by ${method} refused: ${entry.error}`;
  }
}

/** Injects one fault; the record is filled in as it goes (detail, target, end time). */
export async function injectFault(ctx: FaultContext, prng: Prng, fault: InjectedFault): Promise<void> {
  try {
    await injectors[fault.kind](ctx, prng, fault);
  } catch (error) {
    fault.detail = `${fault.detail} (injection error: ${error instanceof Error ? error.message : String(error)})`;
  } finally {
    if (!fault.lingers) fault.endMs = Date.now();
  }
}
