/**
 * The verdict, taken only from what the outside world shows: the emulator's ledger (every job
 * RunComfy accepted, with its timestamps and planned failure), the bucket (listings and object
 * metadata), and Temporal (descriptions and histories read through the client library).
 */
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import type { JobSummary } from '../src/emulator/admin-types.js';
import type { PipelineClient, PipelineStatusView } from '../src/client/index.js';
import type { InjectedFault, PipelineRecord } from './faults.js';
import type { ChaosStack, SubmitPolicy } from './stack.js';
import { pipelineMarker } from './workload.js';
import { checkCallbacks, type CallbackFormat, type ReceivedCallback } from './callbacks.js';
import { checkReplays } from './replay-check.js';
import { checkAttempts, checkForgedRefused, checkHistory, checkWebhooksEffective, percentile, WAITING_INVARIANTS, webhookTokens, type SlowestQuiet, type WaitingFigures, type WaitingProblem, describeDeliveries } from './waiting-invariants.js';

export type { WaitingFigures } from './waiting-invariants.js';

export const INVARIANTS = [
  'pipeline-started',
  'pipeline-closed',
  'outcome-consistent',
  'submits-per-step',
  'no-submit-after-cancel',
  'billing-stopped',
  'outputs-persisted',
  'no-leftover-uploads',
  'no-secrets',
  'duplicate-start',
  'callbacks',
  ...WAITING_INVARIANTS,
] as const;
export type InvariantName = (typeof INVARIANTS)[number];

export interface Violation {
  invariant: InvariantName;
  pipelineId: string;
  evidence: string;
  replay: string;
}

export interface PipelineVerdict {
  pipelineId: string;
  outcome: 'succeeded' | 'failed' | 'cancelled' | 'running' | 'not-started';
  failureType?: string;
}

/** Faults after which a submit's outcome can be unknown: the answer lost, never sent, or its sender gone. */
const AMBIGUITY_FAULTS = new Set(['lost-response', 'hang', 'server-error', 'worker-kill', 'worker-restart', 'temporal-restart']);
/** A start is recorded when it was asked for; a fault that ended this much earlier may still have met it. */
const START_TOLERANCE_MS = 1_000;
/** A submit within this long after the workflow could see the cancel may have been in flight already. */
const IN_FLIGHT_TOLERANCE_MS = 1_000;
/** Maximum job attempts per step in the shipped registry's defaults. */
const MAX_JOB_ATTEMPTS = 2;

interface HistoryFacts {
  text: string;
  cancelEvent?: { eventId: number; atMs: number; how: 'signal' | 'temporal' };
  /**
   * When the workflow could first see the cancel: the first workflow task started after the cancel's
   * event. On a loaded machine that can be seconds later, and a submit the pipeline had already
   * scheduled may reach RunComfy in between; nothing the workflow does can stop it before then.
   */
  cancelSeenAtMs?: number;
  /** Event ids and times of submitJob activities scheduled. */
  submitsScheduled: { eventId: number; atMs: number }[];
  lastPersistCompletedEventId?: number;
  closeEventId?: number;
  /** Event counts for the history bound: all events, signals received and sent, timers started, awaitJob activities scheduled. */
  counts: { events: number; signals: number; sentSignals: number; timers: number; awaitJobScheduled: number };
  raw: Awaited<ReturnType<ReturnType<PipelineClient['client']['workflow']['getHandle']>['fetchHistory']>>;
}

function eventMs(time: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!time) return 0;
  return Number(String(time.seconds ?? 0)) * 1000 + Math.floor((time.nanos ?? 0) / 1_000_000);
}

/**
 * History as text with payload bytes decoded, so a secret inside a payload is found by a plain
 * search. A walk, not JSON.stringify: protobuf messages' toJSON would turn the bytes into base64.
 */
function historyText(history: unknown): string {
  const parts: string[] = [];
  const seen = new Set<object>();
  const walk = (value: unknown): void => {
    if (typeof value === 'string') parts.push(value);
    else if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString('utf8'));
    else if (typeof value === 'object' && value !== null && !seen.has(value)) {
      seen.add(value);
      for (const key of Object.keys(value)) walk((value as Record<string, unknown>)[key]);
    }
  };
  walk(history);
  return parts.join('\n');
}

/**
 * The faults that could have touched a pipeline: injected before it closed (to the millisecond: a
 * fault armed in the same second as the close may be what closed it) and not over before it started.
 */
export function faultsDuringLife(faults: readonly InjectedFault[], startedAtMs: number, closedAtMs: number): InjectedFault[] {
  return faults.filter((f) => !f.skipped && f.atMs <= closedAtMs && (f.endMs ?? f.atMs) >= startedAtMs - START_TOLERANCE_MS);
}

async function readHistory(client: PipelineClient, workflowId: string): Promise<HistoryFacts> {
  const history = await client.client.workflow.getHandle(workflowId).fetchHistory();
  const facts: HistoryFacts = { text: historyText(history), submitsScheduled: [], counts: { events: history.events?.length ?? 0, signals: 0, sentSignals: 0, timers: 0, awaitJobScheduled: 0 }, raw: history };
  const activityTypes = new Map<string, string>();
  for (const event of history.events ?? []) {
    const eventId = Number(String(event.eventId ?? 0));
    const atMs = eventMs(event.eventTime);
    const signaled = event.workflowExecutionSignaledEventAttributes;
    if (signaled) facts.counts.signals += 1;
    if (event.signalExternalWorkflowExecutionInitiatedEventAttributes) facts.counts.sentSignals += 1;
    if (event.timerStartedEventAttributes) facts.counts.timers += 1;
    if (signaled?.signalName === 'cancelPipeline' && !facts.cancelEvent) facts.cancelEvent = { eventId, atMs, how: 'signal' };
    if (event.workflowExecutionCancelRequestedEventAttributes && !facts.cancelEvent) facts.cancelEvent = { eventId, atMs, how: 'temporal' };
    if (event.workflowTaskStartedEventAttributes && facts.cancelEvent && eventId > facts.cancelEvent.eventId && facts.cancelSeenAtMs === undefined) facts.cancelSeenAtMs = atMs;
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) {
      const type = scheduled.activityType?.name ?? '';
      activityTypes.set(String(eventId), type);
      if (type === 'submitJob') facts.submitsScheduled.push({ eventId, atMs });
      if (type === 'awaitJob') facts.counts.awaitJobScheduled += 1;
    }
    const completed = event.activityTaskCompletedEventAttributes;
    if (completed && activityTypes.get(String(completed.scheduledEventId ?? '')) === 'persistOutputs') facts.lastPersistCompletedEventId = eventId;
    if (
      event.workflowExecutionCompletedEventAttributes ||
      event.workflowExecutionFailedEventAttributes ||
      event.workflowExecutionCanceledEventAttributes ||
      event.workflowExecutionTerminatedEventAttributes ||
      event.workflowExecutionTimedOutEventAttributes
    ) {
      facts.closeEventId = eventId;
    }
  }
  return facts;
}

export interface CheckInput {
  stack: ChaosStack;
  clients: Record<SubmitPolicy, PipelineClient>;
  records: Map<string, PipelineRecord>;
  faults: InjectedFault[];
  replay: string;
  log: (line: string) => void;
  /** Backend callbacks as the campaign's receiver got them. */
  callbacks?: { format: CallbackFormat; received: readonly ReceivedCallback[]; secret: string; sequences: boolean };
}

export interface CheckResult {
  violations: Violation[];
  waiting: WaitingFigures;
  verdicts: PipelineVerdict[];
  /** Jobs RunComfy accepted whose request id the service never learned (lost answers). */
  orphanJobs: number;
  callbacks: 'checked' | 'pending';
}

export async function checkInvariants(input: CheckInput): Promise<CheckResult> {
  const { stack, records, replay } = input;
  const violations: Violation[] = [];
  const violate = (invariant: InvariantName, pipelineId: string, evidence: string): void => {
    violations.push({ invariant, pipelineId, evidence, replay });
  };
  const verdicts: PipelineVerdict[] = [];
  const ledger = await stack.admin.jobs();
  const ledgerById = new Map(ledger.map((job) => [job.request_id, job]));
  const deliveries = await stack.admin.webhookDeliveries();
  const backstopMs = stack.webhooks?.backstopMs;
  const addWaiting = (problems: WaitingProblem[]): void => {
    for (const p of problems) violate(p.invariant, p.pipelineId, p.evidence);
  };
  const quietLatencies: number[] = [];
  let jobsMeasured = 0;
  let statusReads = 0;
  let nudgedReads = 0;
  let maxHistory = { pipelineId: '-', events: 0, signals: 0 };
  const pipelineOfRequest = new Map<string, string>();
  const histories = new Map<string, HistoryFacts['raw']>();
  let slowestQuiet: SlowestQuiet | undefined;
  const jobsOf = (pipelineId: string): JobSummary[] => {
    const marker = pipelineMarker(pipelineId);
    const keyPart = `pipelines/${pipelineId}/`;
    return ledger.filter((job) => {
      const text = JSON.stringify(job.overrides);
      return text.includes(marker) || text.includes(keyPart);
    });
  };
  const s3 = new S3Client({
    region: 'us-east-1',
    endpoint: stack.s3.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey },
  });
  const secrets = [stack.runcomfyToken, stack.s3.secretAccessKey, ...(input.callbacks ? [input.callbacks.secret] : []), ...(stack.webhooks ? [stack.webhooks.secret] : []), ...webhookTokens(deliveries)];
  const leakPatterns = [/X-Amz-Signature=/i, /X-Amz-Credential=/i, /X-Amz-Security-Token=/i, /Bearer [A-Za-z0-9._-]{8,}/];
  const findLeak = (text: string): string | undefined => {
    for (const secret of secrets) if (text.includes(secret)) return `a credential (${secret.slice(0, 6)}…)`;
    for (const pattern of leakPatterns) {
      const match = pattern.exec(text);
      // The evidence names what leaked and where, never the leaked value itself.
      if (match) return `${match[0].replace(/=.*$/, '=').replace(/ .*/, ' …')}… near "${text.slice(Math.max(0, match.index - 80), match.index).replace(/(X-Amz-[A-Za-z-]+=)[^&\s"]*/gi, '$1…').replace(/\s+/g, ' ')}"`;
    }
    return undefined;
  };
  let orphanJobs = 0;

  try {
    for (const record of records.values()) {
      const { pipelineId, policy, spec } = record.planned;
      const client = input.clients[policy];
      if (record.startedAtMs === undefined) {
        verdicts.push({ pipelineId, outcome: 'not-started' });
        violate('pipeline-started', pipelineId, `the client could not start it: ${record.startError ?? 'unknown error'}`);
        continue;
      }
      const workflowId = `pipeline-${pipelineId}`;
      const description = await client.client.workflow.getHandle(workflowId).describe();
      if (description.status.name === 'RUNNING') {
        verdicts.push({ pipelineId, outcome: 'running' });
        violate('pipeline-closed', pipelineId, `still running after the drain deadline (started ${new Date(record.startedAtMs).toISOString()})`);
        continue;
      }
      let view: PipelineStatusView;
      try {
        view = await client.getStatus(pipelineId);
      } catch (error) {
        violate('pipeline-closed', pipelineId, `closed as ${description.status.name} but its status cannot be read: ${String(error)}`);
        continue;
      }
      const history = await readHistory(client, workflowId);
      histories.set(workflowId, history.raw);
      for (const step of view.steps) for (const attempt of step.attempts) if (attempt.requestId) pipelineOfRequest.set(attempt.requestId, pipelineId);
      const waited = checkAttempts(pipelineId, view.steps, ledgerById, input.faults, backstopMs);
      addWaiting(waited.problems);
      addWaiting(checkHistory(pipelineId, history.counts, view.steps));
      quietLatencies.push(...waited.quietLatenciesMs);
      if (waited.slowestQuiet && waited.slowestQuiet.latencyMs > (slowestQuiet?.latencyMs ?? -1)) slowestQuiet = waited.slowestQuiet;
      jobsMeasured += waited.latenciesMs.length;
      statusReads += waited.statusReads;
      nudgedReads += waited.nudgedReads;
      if (history.counts.events > maxHistory.events) maxHistory = { pipelineId, events: history.counts.events, signals: history.counts.signals };
      const outcome: PipelineVerdict['outcome'] = view.status === 'succeeded' ? 'succeeded' : view.status === 'cancelled' || view.runStatus === 'CANCELLED' ? 'cancelled' : 'failed';
      const failureType = view.failure?.failureType;
      verdicts.push({ pipelineId, outcome, ...(failureType ? { failureType } : {}) });

      // Which job belongs to which step: the history's request ids first, else the deployment.
      const jobs = jobsOf(pipelineId);
      const knownRequests = new Map<string, string>();
      for (const step of view.steps) for (const attempt of step.attempts) if (attempt.requestId) knownRequests.set(attempt.requestId, step.id);
      const stepOfDeployment = new Map<string, string>();
      for (const step of spec.steps) stepOfDeployment.set(stack.deploymentIds[step.deployment] ?? '', step.id);
      const stepJobs = new Map<string, JobSummary[]>();
      for (const job of jobs) {
        const stepId = knownRequests.get(job.request_id) ?? stepOfDeployment.get(job.deployment_id) ?? '?';
        stepJobs.set(stepId, [...(stepJobs.get(stepId) ?? []), job]);
        if (!knownRequests.has(job.request_id)) orphanJobs += 1;
      }

      // Consistency of the outcome with what was done to the pipeline.
      const faultsDuring = faultsDuringLife(input.faults, record.startedAtMs, description.closeTime?.getTime() ?? Date.now());
      const sentCancel = record.cancels.find((c) => c.ok);
      const allowed = new Set<string>();
      for (const [, list] of stepJobs) {
        if (list.some((j) => j.failure?.kind === 'permanent')) allowed.add('RunComfyJobFailed');
        if (list.filter((j) => j.failure?.kind === 'transient').length >= MAX_JOB_ATTEMPTS) allowed.add('RunComfyJobFailed');
      }
      if (faultsDuring.some((f) => AMBIGUITY_FAULTS.has(f.kind))) allowed.add('SubmitOutcomeUnknown');
      if (record.expiredRequests.length > 0) allowed.add('OutputExpired');
      if (outcome === 'failed') {
        const type = failureType ?? 'unknown';
        // Outputs expired before the result was read surface as the result endpoint's 404 (see
        // docs/reliability.md: the failure type could say OutputExpired); the outcome is still the
        // one the campaign caused.
        const expiredAtResult =
          type === 'RunComfyApiError' && /HTTP 404/.test(view.failure?.message ?? '') && record.expiredRequests.some((id) => (view.failure?.message ?? '').includes(id));
        if (!allowed.has(type) && !expiredAtResult) {
          violate(
            'outcome-consistent',
            pipelineId,
            `failed with ${type} at step ${view.failure?.stepId ?? view.failedStepId ?? '?'}: ${(view.failure?.message ?? '').slice(0, 300)}; faults during its life: ${[...new Set(faultsDuring.map((f) => f.kind))].join(', ') || 'none'}`,
          );
        }
      } else if (outcome === 'cancelled' && !sentCancel) {
        violate('outcome-consistent', pipelineId, 'ended cancelled, but the campaign never cancelled it');
      } else if (outcome === 'succeeded' && history.cancelEvent && history.lastPersistCompletedEventId !== undefined && history.cancelEvent.eventId < history.lastPersistCompletedEventId) {
        violate(
          'outcome-consistent',
          pipelineId,
          `a ${history.cancelEvent.how} cancel reached it (event ${history.cancelEvent.eventId}) before its last output was persisted (event ${history.lastPersistCompletedEventId}), yet it ended succeeded`,
        );
      }

      // Submits per step: 1, plus resubmits after transient job failures, plus one under `resubmit`.
      for (const [stepId, list] of stepJobs) {
        const transient = list.filter((j) => j.failure?.kind === 'transient' && j.outcome === 'failed').length;
        const limit = 1 + transient + (policy === 'resubmit' ? 1 : 0);
        if (list.length > limit) {
          violate(
            'submits-per-step',
            pipelineId,
            `step ${stepId}: ${list.length} jobs accepted (${list.map((j) => `${j.request_id}${knownRequests.has(j.request_id) ? '' : ' (unknown to the pipeline)'}`).join(', ')}), at most ${limit} allowed (${transient} transient failure(s), policy ${policy})`,
          );
        }
      }

      // No paid job after the cancel reached the pipeline: once a workflow task could see it (a
      // submit scheduled before the cancel may land until then), and no submit scheduled after it.
      if (history.cancelEvent) {
        const cancelAt = history.cancelEvent.atMs;
        const seenAt = Math.max(cancelAt, history.cancelSeenAtMs ?? cancelAt);
        const late = jobs.filter((j) => j.submitted_at_ms > seenAt + IN_FLIGHT_TOLERANCE_MS);
        const scheduledAfter = history.submitsScheduled.filter((s) => s.eventId > history.cancelEvent!.eventId);
        if (late.length > 0 || scheduledAfter.length > 0) {
          violate(
            'no-submit-after-cancel',
            pipelineId,
            `cancel (${history.cancelEvent.how}) at ${new Date(cancelAt).toISOString()}, first seen by a workflow task ${seenAt - cancelAt} ms later; ${late.map((j) => `${j.request_id} submitted ${j.submitted_at_ms - cancelAt} ms later`).join(', ') || 'no late job in the ledger'}; submitJob scheduled after the cancel event: ${scheduledAfter.length}`,
          );
        }
      }

      // Billing stopped: nothing the pipeline knew of still queued or running.
      for (const job of jobs) {
        const current = ledger.find((j) => j.request_id === job.request_id)!;
        if ((current.state === 'in_queue' || current.state === 'in_progress') && knownRequests.has(job.request_id)) {
          violate('billing-stopped', pipelineId, `job ${job.request_id} (step ${knownRequests.get(job.request_id)}) still ${current.state} after the pipeline closed ${description.status.name}`);
        }
      }

      // Outputs of every succeeded job are in the bucket with the emulator's hash and size.
      if (outcome !== 'failed') {
        for (const job of jobs) {
          if (job.outcome !== 'succeeded' || !knownRequests.has(job.request_id)) continue;
          if (record.expiredRequests.includes(job.request_id)) continue;
          // A job that finished only after the cancel reached the pipeline was being cancelled: keeping
          // its outputs is not promised. One that finished before it was paid for and must be kept.
          if (history.cancelEvent && (job.finished_at_ms ?? 0) > history.cancelEvent.atMs) continue;
          const stepId = knownRequests.get(job.request_id)!;
          const step = view.steps.find((s) => s.id === stepId);
          let files;
          try {
            files = await stack.admin.jobOutputs(job.request_id);
          } catch {
            continue;
          }
          for (const file of files) {
            const persisted = step?.outputs.find((o) => o.nodeId === file.node_id && o.filename === file.filename && o.sha256 === file.sha256);
            if (!persisted) {
              const cancelNote = history.cancelEvent ? `; the job finished ${(job.finished_at_ms ?? 0) - history.cancelEvent.atMs} ms after the ${history.cancelEvent.how} cancel` : '';
              violate(
                'outputs-persisted',
                pipelineId,
                `step ${stepId} (${step?.state ?? '?'}), job ${job.request_id}: ${file.node_id}/${file.filename} (${file.size_bytes} B, sha256 ${file.sha256.slice(0, 12)}…) is not among the step's persisted outputs${cancelNote}`,
              );
              continue;
            }
            try {
              const head = await s3.send(new HeadObjectCommand({ Bucket: stack.s3.bucket, Key: persisted.key }));
              const sha = head.Metadata?.['sha256'];
              if (head.ContentLength !== file.size_bytes || sha !== file.sha256) {
                violate('outputs-persisted', pipelineId, `${persisted.key}: ${head.ContentLength} B sha256 ${sha ?? 'none'} in the bucket, the emulator made ${file.size_bytes} B sha256 ${file.sha256}`);
              }
            } catch (error) {
              violate('outputs-persisted', pipelineId, `${persisted.key} (job ${job.request_id}) is missing from the bucket: ${error instanceof Error ? error.name : String(error)}`);
            }
          }
        }
      }

      const leak = findLeak(history.text);
      if (leak) violate('no-secrets', pipelineId, `its history holds ${leak}`);

      for (const start of record.duplicateStarts) {
        if (start.alreadyStarted === false) violate('duplicate-start', pipelineId, `a second start at ${new Date(start.atMs).toISOString()} started a new run`);
        else if (start.differentSpec && start.error === undefined) violate('duplicate-start', pipelineId, `a start with a different spec under the same id at ${new Date(start.atMs).toISOString()} was accepted`);
        else if (start.error !== undefined && !/PipelineAlreadyStarted/.test(start.error) && !start.differentSpec) {
          violate('duplicate-start', pipelineId, `starting the same spec again failed: ${start.error}`);
        }
      }
    }

    // The bucket holds no incomplete upload and no staging object.
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: stack.s3.bucket }));
    for (const upload of uploads.Uploads ?? []) {
      violate('no-leftover-uploads', pipelineOfKey(upload.Key, records), `incomplete multipart upload ${upload.Key} (started ${upload.Initiated?.toISOString() ?? '?'})`);
    }
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: stack.s3.bucket, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (object.Key?.includes('.staging/')) violate('no-leftover-uploads', pipelineOfKey(object.Key, records), `staging object ${object.Key} (${object.Size} B) left in the bucket`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    s3.destroy();
  }

  const logs = [...stack.workers.flatMap((slot) => slot.logFiles.map((file) => ({ file, what: 'worker log' }))), ...stack.receiverLogs.map((file) => ({ file, what: 'webhook receiver log' }))];
  for (const { file, what } of logs) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const leak = findLeak(text);
    if (leak) violate('no-secrets', '-', `${what} ${file} holds ${leak}`);
  }
  addWaiting(checkWebhooksEffective(quietLatencies, backstopMs));
  for (const problem of await checkReplays({ bundlePath: stack.bundlePath }, histories)) violate('replays', problem.pipelineId, problem.evidence);
  addWaiting(checkForgedRefused(deliveries, (requestId) => pipelineOfRequest.get(requestId) ?? '-'));
  const waiting: WaitingFigures = {
    webhooks: backstopMs !== undefined,
    jobsMeasured,
    quietJobs: quietLatencies.length,
    quietLatencyMs: { p50: percentile(quietLatencies, 0.5), p95: percentile(quietLatencies, 0.95), max: percentile(quietLatencies, 1) },
    statusReads,
    nudgedReads,
    maxHistoryEvents: maxHistory,
    ...(slowestQuiet
      ? { slowestQuiet: { ...slowestQuiet, deliveries: describeDeliveries(deliveries.filter((d) => d.request_id === slowestQuiet!.requestId), slowestQuiet.endedAtMs) } }
      : {}),
    forgedCalls: deliveries.filter((d) => d.kind === 'forged_token' || d.kind === 'forged_request').length,
  };
  if (input.callbacks) {
    const closed = verdicts.filter((v) => v.outcome !== 'running' && v.outcome !== 'not-started').map((v) => v.pipelineId);
    for (const problem of checkCallbacks(input.callbacks.format, input.callbacks.received, closed, { sequences: input.callbacks.sequences })) violate('callbacks', problem.pipelineId, problem.evidence);
  }
  return { violations, waiting, verdicts, orphanJobs, callbacks: input.callbacks ? 'checked' : 'pending' };
}

function pipelineOfKey(key: string | undefined, records: Map<string, PipelineRecord>): string {
  if (!key) return '-';
  for (const id of records.keys()) if (key.includes(`/${id}/`) || key.startsWith(`${id}/`)) return id;
  return '-';
}
