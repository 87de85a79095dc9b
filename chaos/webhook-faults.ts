/**
 * Faults on the webhook path. Each must be harmless: a pipeline ends exactly as it would without
 * it, at most later (a lost webhook is found by the backstop read; a forged one is refused; a
 * duplicate or a stray nudge only prompts one more status read).
 */
import { jobNudgeSignal, type JobNudge } from '../src/contract/pipeline-contract.js';
import { pickRunningPipeline, sleepUnlessWinding, type FaultContext, type InjectedFault, type PipelineRecord } from './faults.js';
import type { FaultKind } from './options.js';
import type { Prng } from './prng.js';

type Injector = (ctx: FaultContext, prng: Prng, fault: InjectedFault) => Promise<void>;

/**
 * Overlapping faults of one kind share one emulator setting or one process: the first one in turns
 * it on, the last one out turns it back. Kept per campaign (per fault context).
 */
const holders = new WeakMap<FaultContext, Map<string, number>>();

async function holding(ctx: FaultContext, fault: InjectedFault, name: string, on: () => Promise<void>, off: () => Promise<void>, ms: number): Promise<void> {
  const counts = holders.get(ctx) ?? new Map<string, number>();
  holders.set(ctx, counts);
  counts.set(name, (counts.get(name) ?? 0) + 1);
  try {
    if (counts.get(name) === 1) await on();
    else fault.detail += ' (joins one under way, whose settings stay)';
    await sleepUnlessWinding(ctx, ms);
  } finally {
    counts.set(name, counts.get(name)! - 1);
    if (counts.get(name) === 0) await off();
  }
}

function needsWebhooks(ctx: FaultContext, fault: InjectedFault): boolean {
  if (ctx.stack.webhooks) return true;
  fault.skipped = true;
  fault.detail = 'webhooks are off';
  return false;
}

/** Signals a nudge; a pipeline that closed meanwhile refuses it, which is an answer too. */
async function nudge(ctx: FaultContext, pipelineId: string, policy: keyof FaultContext['clients'], body: JobNudge): Promise<boolean> {
  try {
    await ctx.clients[policy].client.workflow.getHandle(`pipeline-${pipelineId}`).signal(jobNudgeSignal, body);
    return true;
  } catch {
    return false;
  }
}

export const webhookInjectors: Record<Extract<FaultKind, 'webhook-loss' | 'webhook-forgery' | 'receiver-down' | 'nudge-storm'>, Injector> = {
  'webhook-loss': async (ctx, prng, fault) => {
    if (!needsWebhooks(ctx, fault)) return;
    const seconds = prng.int(5, 25);
    fault.detail = `every webhook lost for ${seconds} s`;
    const admin = ctx.stack.admin;
    await holding(ctx, fault, 'loss', () => admin.updateSettings({ webhook: { lossRate: 1 } }).then(() => undefined), () => admin.updateSettings({ webhook: { lossRate: 0 } }).then(() => undefined), seconds * 1000);
  },
  'webhook-forgery': async (ctx, prng, fault) => {
    if (!needsWebhooks(ctx, fault)) return;
    const seconds = prng.int(10, 30);
    const forged = prng.int(1, 3);
    const duplicates = prng.int(1, 3);
    fault.detail = `for ${seconds} s: ${forged} forged call(s) and ${duplicates} duplicate(s) per event, intermediate events held and sent after the final one`;
    const admin = ctx.stack.admin;
    await holding(
      ctx,
      fault,
      'forgery',
      () => admin.updateSettings({ webhook: { forged, duplicates, reorder: true } }).then(() => undefined),
      () => admin.updateSettings({ webhook: { forged: 0, duplicates: 0, reorder: false } }).then(() => undefined),
      seconds * 1000,
    );
  },
  'receiver-down': async (ctx, prng, fault) => {
    if (!needsWebhooks(ctx, fault)) return;
    const seconds = prng.int(3, 30);
    const kill = prng.chance(0.5);
    fault.detail = `the standalone webhook receiver ${kill ? 'SIGKILLed' : 'stopped'} for ${seconds} s`;
    await holding(ctx, fault, 'receiver', () => ctx.stack.stopReceiver(kill ? 'SIGKILL' : 'SIGTERM'), () => ctx.stack.startReceiver(), seconds * 1000);
  },
  'nudge-storm': async (ctx, prng, fault) => {
    const targets: PipelineRecord[] = [];
    for (let i = 0; i < 3; i += 1) {
      const record = await pickRunningPipeline(ctx, prng);
      if (record && !targets.includes(record)) targets.push(record);
    }
    if (targets.length === 0) {
      fault.skipped = true;
      fault.detail = 'no running pipeline';
      return;
    }
    fault.pipelineId = targets[0]!.planned.pipelineId;
    let sent = 0;
    let refused = 0;
    for (const record of targets) {
      const { pipelineId, policy } = record.planned;
      let steps: { id: string; attempts: { attempt: number; requestId?: string }[] }[] = [];
      try {
        steps = (await ctx.clients[policy].getStatus(pipelineId)).steps;
      } catch {
        // Not answering right now: the nudges below still name its steps from the spec.
      }
      const known = steps.flatMap((s) => s.attempts.map((a) => ({ stepId: s.id, attempt: a.attempt, requestId: a.requestId })));
      const stepIds = record.planned.spec.steps.map((s) => s.id);
      const count = prng.int(20, 60);
      for (let n = 0; n < count; n += 1) {
        const real = known.length > 0 ? prng.pick(known) : { stepId: prng.pick(stepIds), attempt: 1, requestId: undefined };
        // Right and wrong coordinates: the right request, another request, none, an attempt or a
        // step that does not exist, a status word that is a lie, and shapes no webhook sends.
        const shape = prng.int(0, 6);
        const body: JobNudge =
          shape === 0 && real.requestId ? { stepId: real.stepId, attempt: real.attempt, requestId: real.requestId, status: 'succeeded' }
          : shape === 1 ? { stepId: real.stepId, attempt: real.attempt, requestId: `wrong-${prng.int(0, 1e9).toString(36)}`, status: 'succeeded' }
          : shape === 2 ? { stepId: real.stepId, attempt: real.attempt }
          : shape === 3 ? { stepId: real.stepId, attempt: real.attempt + prng.int(1, 3), status: 'failed' }
          : shape === 4 ? { stepId: `no-such-step-${n}`, attempt: 1, status: 'succeeded' }
          : shape === 5 ? ({ stepId: real.stepId, attempt: Number.NaN } as JobNudge)
          : real.requestId ? { stepId: real.stepId, attempt: real.attempt, requestId: real.requestId, status: 'in_progress' } : { stepId: real.stepId, attempt: real.attempt, status: 'cancelled' };
        if (await nudge(ctx, pipelineId, policy, body)) sent += 1;
        else refused += 1;
      }
    }
    fault.detail = `${sent} jobNudge signals (right and wrong request ids, steps and attempts) to ${targets.map((t) => t.planned.pipelineId).join(', ')}${refused > 0 ? `; ${refused} refused (pipeline closed)` : ''}`;
  },
};
