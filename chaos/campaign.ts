/**
 * One campaign: start the stack, start the planned pipelines and inject the planned faults at their
 * moments, wind down (every fault undone, every worker back), wait for the pipelines to close, take
 * the verdict, stop everything.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineClient } from '../src/client/index.js';
import { injectFault, patiently, type FaultContext, type InjectedFault, type PipelineRecord } from './faults.js';
import { checkInvariants, type PipelineVerdict, type Violation, type WaitingFigures } from './invariants.js';
import { replayCommand, type ChaosOptions, type FaultKind } from './options.js';
import { Prng } from './prng.js';
import { startChaosStack, TASK_QUEUES, type ChaosStack, type SubmitPolicy } from './stack.js';
import { FACE_PNG, planWorkload } from './workload.js';
import { callbackFormat, checkCallbacks, startCallbackReceiver, type CallbackReceiver } from './callbacks.js';

export interface ChaosSummary {
  seed: number;
  minutes: number;
  pipelines: number;
  faults: Partial<Record<FaultKind, number>>;
  outcomes: Record<string, number>;
  violations: Violation[];
  /** Jobs RunComfy accepted whose request id the service never learned (answers lost by a fault). */
  orphanJobs: number;
  /** How quickly the ends of jobs were read, status reads, the longest history. */
  waiting: WaitingFigures;
  /** `pending` until backend callbacks exist to check. */
  callbacks: 'checked' | 'pending';
  durationSeconds: number;
  replay: string;
  workDir?: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunningCampaign {
  /** Stops every process the campaign started (idempotent); for Ctrl-C and crashes. */
  abort(): Promise<void>;
  done: Promise<ChaosSummary>;
}

export function runCampaign(options: ChaosOptions, log: (line: string) => void): RunningCampaign {
  const workDir = mkdtempSync(join(tmpdir(), `rcp-chaos-${options.seed}-`));
  let stack: ChaosStack | undefined;
  let receiver: CallbackReceiver | undefined;
  const clients: Partial<Record<SubmitPolicy, PipelineClient>> = {};
  let aborted = false;
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled(Object.values(clients).map((c) => c.close()));
    await stack?.stop().catch(() => undefined);
    await receiver?.close().catch(() => undefined);
    if (!options.keep) rmSync(workDir, { recursive: true, force: true });
  };
  const done = (async (): Promise<ChaosSummary> => {
    const begunAt = Date.now();
    const root = new Prng(options.seed);
    const workloadPrng = root.fork('workload');
    const schedulePrng = root.fork('schedule');
    const faultPrng = root.fork('faults');
    const planned = planWorkload(workloadPrng, {
      seed: options.seed,
      minutes: options.minutes,
      pipelinesPerMinute: options.pipelinesPerMinute,
      largeOutputs: options.largeOutputMiB > 0,
      resubmitShare: options.resubmitWorkers > 0 ? options.resubmitShare : 0,
      uploadedInputs: options.uploadedInputs,
    });
    const faultCount = options.faults.length === 0 ? 0 : Math.round(options.minutes * options.faultsPerMinute);
    const windowMs = options.minutes * 60_000;
    const schedule = Array.from({ length: faultCount }, (_, n) => ({
      // The first seconds are left to the workers to come up; faults then spread with jitter.
      atMs: Math.round(5_000 + ((n + schedulePrng.float()) / faultCount) * (windowMs - 5_000)),
      kind: schedulePrng.pick(options.faults),
    }));
    log(`seed ${options.seed}: ${planned.length} pipelines and ${schedule.length} faults over ${options.minutes} min; work folder ${workDir}`);

    try {
      // The backend's stand-in: it fails (503) and stalls at random, so delivery retries are exercised.
      const callbackPrng = root.fork('callbacks');
      if (options.callbacks !== 'off') receiver = await startCallbackReceiver(callbackPrng, { failRate: 0.2, stallRate: 0.05, stallMs: 3_000 });
      const callbackSecret = `chaos-callback-secret-${options.seed}-${Date.now().toString(36)}`;
      stack = await startChaosStack(options, workDir, log, receiver ? { url: receiver.url, secret: callbackSecret } : undefined);
      if (aborted) throw new Error('aborted');
      log(`stack up in ${Math.round((Date.now() - begunAt) / 1000)} s: Temporal ${stack.temporalAddress}, S3 ${stack.s3.endpoint}, emulator ${stack.emulatorUrl}, ${stack.workers.length} workers`);
      for (const policy of Object.keys(TASK_QUEUES) as SubmitPolicy[]) {
        clients[policy] = await PipelineClient.connect({
          address: stack.temporalAddress,
          taskQueue: TASK_QUEUES[policy],
          queryTimeoutMs: 3_000,
          store: { endpoint: stack.s3.endpoint, bucket: stack.s3.bucket, accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey, region: 'us-east-1', forcePathStyle: true },
        });
      }
      const allClients = clients as Record<SubmitPolicy, PipelineClient>;
      const records = new Map<string, PipelineRecord>(planned.map((p) => [p.pipelineId, { planned: p, cancels: [], duplicateStarts: [], expiredRequests: [] }]));
      const faults: InjectedFault[] = [];
      const ctx: FaultContext = {
        stack,
        clients: allClients,
        records,
        maxOutageSeconds: options.maxOutageSeconds,
        log,
        infraLock: { chain: Promise.resolve() },
        winding: { down: false },
      };

      const t0 = Date.now();
      const tasks: Promise<void>[] = [];
      for (const p of planned) {
        tasks.push(
          (async () => {
            await sleep(Math.max(0, t0 + p.startAtS * 1000 - Date.now()));
            if (aborted) return;
            const record = records.get(p.pipelineId)!;
            try {
              if (p.uploadedFace) {
                // As a backend would: upload the user's face, put the returned r2:// reference in the
                // spec (the worker presigns it at submit, so no signed URL reaches history). An S3
                // outage may be under way: the upload waits it out.
                const uploaded = await patiently(() => allClients[p.policy].uploadInput({ bytes: FACE_PNG }, { contentType: 'image/png' }), 300_000);
                for (const step of p.spec.steps) if (step.kind === 'faceswap') step.params['faceImageUrl'] = uploaded.ref;
              }
              // The moment the start was asked for: the pipeline may submit its first job before the
              // client's answer arrives, and faults from then on may touch it.
              const requestedAt = Date.now();
              await patiently(() => allClients[p.policy].start(p.spec));
              record.startedAtMs = requestedAt;
            } catch (error) {
              record.startError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
            }
          })(),
        );
      }
      for (const planned of schedule) {
        tasks.push(
          (async () => {
            await sleep(Math.max(0, t0 + planned.atMs - Date.now()));
            if (aborted || ctx.winding.down) return;
            const fault: InjectedFault = { kind: planned.kind, atMs: Date.now(), detail: '' };
            faults.push(fault);
            await injectFault(ctx, faultPrng.fork(`${planned.kind}-${faults.length}`), fault);
            if (!fault.skipped) log(`  +${Math.round((fault.atMs - t0) / 1000)} s ${fault.kind}: ${fault.detail}${fault.pipelineId ? ` [${fault.pipelineId}]` : ''}`);
          })(),
        );
      }
      // An emulator rule ends when it is used up: watch for that, so a pipeline is only held to the
      // faults that could have touched it.
      const ruleWatch = setInterval(() => {
        void stack!.admin
          .faults()
          .then((rules) => {
            const live = new Set(rules.map((r) => r.id));
            for (const f of faults) if (f.lingers && f.ruleId && f.endMs === undefined && !live.has(f.ruleId)) f.endMs = Date.now();
          })
          .catch(() => undefined);
      }, 2_000);
      // Progress for a person watching: one line a minute.
      const ticker = setInterval(() => {
        const started = [...records.values()].filter((r) => r.startedAtMs !== undefined).length;
        log(`  ${Math.round((Date.now() - t0) / 1000)} s: ${started}/${planned.length} pipelines started, ${faults.filter((f) => !f.skipped).length} faults injected`);
      }, 60_000);
      await sleep(Math.max(0, t0 + windowMs - Date.now()));
      ctx.winding.down = true;
      await Promise.allSettled(tasks);
      clearInterval(ticker);
      clearInterval(ruleWatch);

      // Wind down: every fault undone before the verdict, so pipelines can close.
      await ctx.infraLock.chain;
      await stack.admin.clearFaults();
      for (const fault of faults) if (fault.lingers && fault.endMs === undefined) fault.endMs = Date.now();
      await stack.s3.startGateway();
      await stack.startReceiver();
      for (const slot of stack.workers) stack.startWorker(slot);
      log(`fault window over; waiting up to ${options.drainMinutes} min for pipelines to close`);

      const drainDeadline = Date.now() + options.drainMinutes * 60_000;
      const open = new Set([...records.values()].filter((r) => r.startedAtMs !== undefined).map((r) => r.planned.pipelineId));
      while (open.size > 0 && Date.now() < drainDeadline) {
        for (const id of [...open]) {
          const record = records.get(id)!;
          try {
            const description = await allClients[record.planned.policy].client.workflow.getHandle(`pipeline-${id}`).describe();
            if (description.status.name !== 'RUNNING') open.delete(id);
          } catch {
            // Temporal may still be coming back.
          }
        }
        if (open.size > 0) await sleep(2_000);
      }
      // Callbacks are delivered after the pipeline closes (the receiver fails some on purpose): give
      // every closed pipeline's terminal event time to get through.
      const format = callbackFormat(callbackSecret);
      const closedIds = [...records.values()].filter((r) => r.startedAtMs !== undefined && !open.has(r.planned.pipelineId)).map((r) => r.planned.pipelineId);
      const callbackDeadline = Date.now() + 120_000;
      while (receiver && Date.now() < callbackDeadline && checkCallbacks(format, receiver.received, closedIds).some((p) => /no terminal callback|never answered/.test(p.evidence))) await sleep(2_000);
      const result = await checkInvariants({
        stack,
        clients: allClients,
        records,
        faults,
        replay: replayCommand(options),
        log,
        ...(receiver ? { callbacks: { format, received: receiver.received, secret: callbackSecret, sequences: options.callbacks === 'all' } } : {}),
      });

      const faultCounts: Partial<Record<FaultKind, number>> = {};
      for (const f of faults) if (!f.skipped) faultCounts[f.kind] = (faultCounts[f.kind] ?? 0) + 1;
      const outcomes: Record<string, number> = {};
      for (const v of result.verdicts as PipelineVerdict[]) outcomes[v.outcome] = (outcomes[v.outcome] ?? 0) + 1;
      return {
        seed: options.seed,
        minutes: options.minutes,
        pipelines: planned.length,
        faults: faultCounts,
        outcomes,
        violations: result.violations,
        waiting: result.waiting,
        orphanJobs: result.orphanJobs,
        callbacks: result.callbacks,
        durationSeconds: Math.round((Date.now() - begunAt) / 1000),
        replay: replayCommand(options),
        ...(options.keep ? { workDir } : {}),
      };
    } finally {
      await cleanup();
    }
  })();
  return {
    done,
    async abort() {
      aborted = true;
      await cleanup();
    },
  };
}
