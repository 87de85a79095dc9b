/** Human-readable output of the CLI: status blocks, step lines and output listings (`--json` aside). */
import type { LiveStepStatus, PipelineGpuFacts, PipelineStatusView } from '../client/index.js';
import { formatBytes, formatDuration } from '../format.js';
import { terminalSafe } from '../text/terminal-safe.js';
import type { PersistedOutput, StepProgress } from '../contract/pipeline-contract.js';
import type { ClientConfig } from '../config.js';

/** Every line the CLI prints to stdout goes through here: remote text must not drive the terminal. */
export function writeOut(text: string): void {
  const safe = terminalSafe(text);
  process.stdout.write(safe.endsWith('\n') ? safe : `${safe}\n`);
}

/** A line on stderr, with the same cleaning as {@link writeOut}. */
export function writeErr(text: string): void {
  process.stderr.write(`${terminalSafe(text)}\n`);
}

export function printJson(value: unknown): void {
  writeOut(JSON.stringify(value, null, 2));
}


export function elapsedMs(startedAt: string | undefined, finishedAt: string | undefined, now: number): number {
  if (!startedAt) return Number.NaN;
  return (finishedAt ? Date.parse(finishedAt) : now) - Date.parse(startedAt);
}

export function webUiUrl(config: ClientConfig, path: string | undefined): string | undefined {
  return config.temporal.uiUrl && path ? `${config.temporal.uiUrl.replace(/\/$/, '')}${path}` : undefined;
}

export function stepLine(step: StepProgress, live: LiveStepStatus | undefined, now: number, idWidth: number): string {
  const parts = [`  ${step.id.padEnd(idWidth)}  ${step.state.padEnd(15)}`];
  const elapsed = elapsedMs(step.startedAt, step.finishedAt, now);
  parts.push(Number.isNaN(elapsed) ? '        ' : formatDuration(elapsed).padStart(8));
  if (live?.queuePosition !== undefined && live.remoteStatus === 'in_queue') parts.push(`queued, ${live.queuePosition} ahead`);
  else if (live?.remoteStatus) parts.push(`RunComfy ${live.remoteStatus}`);
  if (live?.bytesCopied !== undefined) parts.push(`${formatBytes(live.bytesCopied)} copied${live.filesTotal ? ` (${live.filesDone ?? 0}/${live.filesTotal} files)` : ''}`);
  if (step.outputs.length > 0) parts.push(`${step.outputs.length} file${step.outputs.length === 1 ? '' : 's'}, ${formatBytes(step.outputs.reduce((sum, o) => sum + o.bytes, 0))}`);
  if (step.attempts.length > 1) parts.push(`attempt ${step.attempts.length}`);
  const lastAttempt = step.attempts.at(-1);
  if (step.state === 'waiting-for-store' && lastAttempt?.error) parts.push(lastAttempt.error.slice(0, 160));
  // A cancel RunComfy never confirmed may still be billing: say so where the operator looks.
  if (lastAttempt?.cancelOutcome) parts.push(`RunComfy cancel ${lastAttempt.cancelOutcome}${lastAttempt.cancelOutcome === 'unconfirmed' ? ' (the job may still be billing)' : ''}`);
  if (live?.lastFailure) parts.push(`retrying: ${live.lastFailure.slice(0, 80)}`);
  if (step.error) parts.push(`error: ${step.error.message.slice(0, 160)}`);
  return parts.join('  ');
}

export function statusLines(view: PipelineStatusView, now: number): string[] {
  const done = view.steps.filter((s) => s.state === 'succeeded').length;
  const elapsed = formatDuration(elapsedMs(view.startedAt, view.finishedAt, now));
  const lines = [`pipeline ${view.pipelineId}: ${view.status} (${done}/${view.steps.length} steps done, ${elapsed}, Temporal ${view.runStatus})`];
  const idWidth = Math.max(4, ...view.steps.map((s) => s.id.length));
  for (const step of view.steps) lines.push(stepLine(step, view.live?.[step.id], now, idWidth));
  if (view.gpu) lines.push(gpuLine(view.gpu));
  if (view.cancelReason) lines.push(`  cancel reason: ${view.cancelReason}`);
  // A step's error already says it; the failure line is for failures no step carries (terminated, invalid binding).
  if (view.failure && !view.steps.some((s) => s.error)) lines.push(`  failure: ${view.failure.failureType}: ${view.failure.message}`);
  return lines;
}

export function printOutputs(outputs: readonly (PersistedOutput & { stepId: string; url?: string })[], canPresign: boolean): void {
  for (const output of outputs) {
    writeOut(`  ${output.stepId}  ${output.key}  ${formatBytes(output.bytes)}  ${output.contentType}  sha256 ${output.sha256}`);
    if (output.url) writeOut(`    ${output.url}`);
  }
  if (!canPresign && outputs.length > 0) writeOut('  (set R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY to print download links)');
}

/** Which steps spent GPU time (what the backend charges) and which did not (what it refunds). */
export function gpuLine(gpu: PipelineGpuFacts): string {
  const spent = gpu.steps
    .filter((s) => s.gpuSpent)
    .map((s) => `${s.stepId} ${s.runSeconds.toFixed(1)} s run + ${s.queueSeconds.toFixed(1)} s queued${s.hardware?.length ? ` on ${s.hardware.join('/')}` : ''}${s.attempts.length > 1 ? ` (${s.attempts.length} jobs)` : ''}`);
  const none = gpu.totals.stepsWithoutGpu;
  return `  GPU: ${spent.length > 0 ? `spent by ${spent.join(', ')}` : 'none spent'}${none.length > 0 ? `; none by ${none.join(', ')}` : ''}`;
}
