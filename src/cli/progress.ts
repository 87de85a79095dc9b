/**
 * Live progress of one pipeline for a person: per-step lines redrawn in place on a terminal (with a
 * copy bar), or a timestamped line per change elsewhere. The demo shows its run with it; its
 * sizes, durations and elapsed times come from the same formatters as every other CLI output.
 */
import type { LiveStepStatus, PipelineStatusView } from '../client/index.js';
import { formatBytes, formatDuration } from '../format.js';
import type { StepProgress } from '../contract/pipeline-contract.js';
import { elapsedMs } from './render.js';

const STATE_MARKS: Record<string, string> = { succeeded: '✔', failed: '✖', cancelled: '⊘', skipped: '·', pending: '○' };
export const FINAL_PIPELINE_STATUSES = new Set(['succeeded', 'failed', 'cancelled']);


function stepElapsedMs(step: StepProgress, nowMs: number): number | undefined {
  return step.startedAt ? Math.max(0, elapsedMs(step.startedAt, step.finishedAt, nowMs)) : undefined;
}

function progressBar(fraction: number, width = 12): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
}

/**
 * A bar for a copy whose total size is unknown until it ends (RunComfy does not announce file
 * sizes): it shows movement while the byte count shows progress.
 */
function movingBar(nowMs: number, width = 12): string {
  const block = 3;
  const span = width - block;
  const tick = Math.floor(nowMs / 120) % (2 * span);
  const at = tick <= span ? tick : 2 * span - tick;
  return `[${'-'.repeat(at)}${'#'.repeat(block)}${'-'.repeat(span - at)}]`;
}

/**
 * What a step is doing, without times (so that a change of this text is a real change). With
 * `barAtMs`, a persisting step gets a bar: filled by bytes when `bytesPerFile` is known (the
 * emulator's padded outputs), else moving.
 */
function stepDetail(step: StepProgress, live: LiveStepStatus | undefined, barAtMs?: number, bytesPerFile?: number): string {
  const parts: string[] = [];
  let bar = '';
  if (step.state === 'waiting') parts.push(live?.queuePosition !== undefined ? `in queue, position ${live.queuePosition}` : 'in queue');
  if (step.state === 'running') parts.push('generating');
  if (step.state === 'persisting') {
    const copied = live?.bytesCopied ?? 0;
    const totalBytes = bytesPerFile !== undefined && live?.filesTotal ? bytesPerFile * live.filesTotal : undefined;
    if (barAtMs !== undefined) bar = `${totalBytes ? progressBar(copied / totalBytes) : movingBar(barAtMs)} `;
    parts.push(totalBytes ? `${formatBytes(copied)} of ${formatBytes(totalBytes)} copied` : `${formatBytes(copied)} copied`);
    if (live?.filesTotal && live.filesTotal > 1) parts.push(`file ${Math.min((live.filesDone ?? 0) + 1, live.filesTotal)} of ${live.filesTotal}`);
  }
  if (step.state === 'succeeded' || step.outputs.length > 0) {
    const bytes = step.outputs.reduce((sum, o) => sum + o.bytes, 0);
    parts.push(`${step.outputs.length} output${step.outputs.length === 1 ? '' : 's'}, ${formatBytes(bytes)}`);
  }
  if (step.attempts.length > 1) parts.push(`job attempt ${step.attempts.length}`);
  const lastAttempt = step.attempts.at(-1);
  if (step.state === 'waiting-for-store' && lastAttempt?.error) parts.push(lastAttempt.error);
  if (lastAttempt?.cancelOutcome) parts.push(`RunComfy cancel ${lastAttempt.cancelOutcome}${lastAttempt.cancelOutcome === 'unconfirmed' ? ' (the job may still be billing)' : ''}`);
  if (live?.lastFailure) parts.push(`retrying after: ${live.lastFailure}`);
  if (step.requestId) parts.push(`request ${step.requestId.slice(0, 8)}`);
  if (step.error) parts.push(`${step.error.type}: ${step.error.message}`);
  return bar + parts.join(', ');
}

/** Progress and messages for a person; in --json mode all of it goes to stderr. */
export class ProgressOutput {
  private drawnLines = 0;
  private readonly lastTextByStep = new Map<string, string>();
  private lastStatus: string | undefined;
  private lastView: PipelineStatusView | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly startedAtMs = Date.now();

  private cursorHidden = false;
  /** Size of each output file per step id, where known in advance. */
  readonly outputBytesPerFile = new Map<string, number>();

  constructor(
    private readonly stream: NodeJS.WriteStream,
    /** Redraw per-step lines in place (a terminal); otherwise print a line per change. */
    readonly redraw: boolean,
  ) {}

  /** A message line; on a terminal it goes above the redrawn block. */
  log(line: string): void {
    if (this.redraw) {
      this.clearBlock();
      this.stream.write(`${line}\n`);
      if (this.lastView && this.ticker) this.drawView(this.lastView);
    } else {
      this.stream.write(`[${this.clock()}] ${line}\n`);
    }
  }

  /** Plain text without a time stamp (tables, links), below a finished block. */
  print(text: string): void {
    this.endBlock();
    this.stream.write(`${text}\n`);
  }

  /** On a terminal, a one-line "still working" indicator until `stop()`. */
  waiting(label: string): { stop(): void } {
    if (!this.redraw) return { stop: () => undefined };
    const startedMs = Date.now();
    const draw = (): void => this.drawBlock([`${label} ${formatDuration(Date.now() - startedMs)}`]);
    draw();
    const timer = setInterval(draw, 200);
    return {
      stop: () => {
        clearInterval(timer);
        this.clearBlock();
      },
    };
  }

  update(view: PipelineStatusView): void {
    this.lastView = view;
    if (this.redraw) {
      // Elapsed times and the copy bar move between status changes.
      this.ticker ??= setInterval(() => this.lastView && this.drawView(this.lastView), 200);
      this.drawView(view);
      return;
    }
    if (view.status !== this.lastStatus) {
      this.lastStatus = view.status;
      this.log(`pipeline ${view.pipelineId}: ${view.status}`);
    }
    const nowMs = Date.now();
    for (const step of view.steps) {
      const detail = stepDetail(step, view.live?.[step.id]);
      const text = `${step.state}${detail ? ` (${detail})` : ''}`;
      if (this.lastTextByStep.get(step.id) === text) continue;
      this.lastTextByStep.set(step.id, text);
      const elapsed = stepElapsedMs(step, nowMs);
      this.log(`${step.id === step.kind ? step.id : `${step.id} (${step.kind})`}: ${text}${elapsed === undefined ? '' : ` at ${formatDuration(elapsed)}`}`);
    }
  }

  /** Leaves the last drawn block on screen; later output goes below it. */
  endBlock(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    this.lastView = undefined;
    if (this.cursorHidden) this.stream.write('\x1b[?25h');
    this.cursorHidden = false;
    this.drawnLines = 0;
  }

  private drawView(view: PipelineStatusView): void {
    const nowMs = Date.now();
    const end = view.finishedAt ? Date.parse(view.finishedAt) : nowMs;
    const header = `pipeline ${view.pipelineId}  ${view.status}  ${formatDuration(end - Date.parse(view.startedAt))}`;
    const lines = [header, ...view.steps.map((step) => this.stepLine(step, view.live?.[step.id], nowMs))];
    this.drawBlock(lines);
  }

  private stepLine(step: StepProgress, live: LiveStepStatus | undefined, nowMs: number): string {
    const mark = STATE_MARKS[step.state] ?? '▸';
    const elapsed = stepElapsedMs(step, nowMs);
    const detail = stepDetail(step, live, nowMs, this.outputBytesPerFile.get(step.id));
    const name = step.id === step.kind ? step.id : `${step.id} (${step.kind})`;
    return ` ${mark} ${name.padEnd(10)} ${step.state.padEnd(15)} ${(elapsed === undefined ? '' : formatDuration(elapsed)).padStart(6)}  ${detail}`;
  }

  private clock(): string {
    const d = new Date();
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} +${formatDuration(Date.now() - this.startedAtMs)}`;
  }

  private clearBlock(): void {
    if (this.drawnLines === 0) return;
    // Up to the block's first line, then clear everything below it.
    this.stream.write(`\x1b[${this.drawnLines}A\r\x1b[J`);
    this.drawnLines = 0;
  }

  private drawBlock(lines: string[]): void {
    // A longer line would wrap and break the count of lines to move up.
    const width = Math.max(20, (this.stream.columns || 100) - 1);
    let text = this.drawnLines > 0 ? `\x1b[${this.drawnLines}A\r\x1b[J` : '';
    if (!this.cursorHidden) text += '\x1b[?25l';
    this.cursorHidden = true;
    for (const line of lines) text += `${line.length > width ? `${line.slice(0, width - 1)}…` : line}\n`;
    this.stream.write(text);
    this.drawnLines = lines.length;
  }
}
