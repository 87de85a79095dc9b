/** The pipeline commands: start, status, watch, cancel, result, list. */
import { isUuid } from '../pipeline/integration.js';
import { terminalSafeLine } from '../text/terminal-safe.js';
import { existsSync, readFileSync } from 'node:fs';
import { PIPELINE_LIST_STATUSES, PipelineCancelledError, type PipelineClient, type PipelineListStatus, type PipelineStatusView, type StepOutput } from '../client/index.js';
import { formatBytes, formatDuration } from '../format.js';
import type { StepProgress } from '../contract/pipeline-contract.js';
import { defaultPipelineSpec } from '../pipeline/default-pipeline.js';
import { onePositional, optionalInteger, parseSince, requireString, UsageError, type Values } from './arguments.js';
import type { Context } from './context.js';
import { abortable, errorDocument, EXIT_CODES, outcomeExitCode } from './exit-codes.js';
import { elapsedMs, printJson, printOutputs, statusLines, stepLine, webUiUrl, writeOut } from './render.js';

export async function startCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`start takes no positional arguments (got ${positionals.join(' ')})`);
  let spec: unknown;
  if (values['spec'] !== undefined) {
    for (const flag of ['id', 'prompt', 'face-image', 'seed']) if (values[flag] !== undefined) throw new UsageError(`--${flag} cannot be combined with --spec`);
    const source = requireString(values, 'spec');
    let text: string;
    try {
      text = source === '-' ? readFileSync(0, 'utf8') : readFileSync(source, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the spec ${source}: ${(error as Error).message}`);
    }
    try {
      spec = JSON.parse(text) as unknown;
    } catch (error) {
      throw new UsageError(`the spec ${source} is not valid JSON: ${(error as Error).message}`);
    }
  } else {
    const pipelineId = requireString(values, 'id');
    const prompt = requireString(values, 'prompt');
    const faceImage = requireString(values, 'face-image');
    const seed = optionalInteger(values, 'seed', 0);
    let faceImageUrl = faceImage;
    if (!/^(https?:|data:)/i.test(faceImage)) {
      if (!existsSync(faceImage)) throw new UsageError(`--face-image: no such file "${faceImage}" (pass an http(s) URL or a local file)`);
      const uploaded = await (await ctx.pipelines()).uploadInput({ path: faceImage });
      faceImageUrl = uploaded.ref;
      if (!ctx.json) process.stderr.write(`uploaded ${faceImage} to ${uploaded.key} (${formatBytes(uploaded.bytes)})\n`);
    }
    spec = defaultPipelineSpec({ pipelineId, prompt, faceImageUrl, ...(seed !== undefined ? { seed } : {}) }, ctx.registry(false));
  }
  const pipelines = await ctx.pipelines();
  const started = await pipelines.start(spec);
  const link = webUiUrl(ctx.config, `/namespaces/${encodeURIComponent(pipelines.namespace)}/workflows/${encodeURIComponent(started.workflowId)}/${encodeURIComponent(started.runId)}/history`);
  if (ctx.json) {
    printJson({ ...started, ...(link ? { webUiUrl: link } : {}) });
  } else {
    writeOut(
      started.alreadyStarted
        ? `pipeline ${started.pipelineId} was already started with this spec (workflow ${started.workflowId}, run ${started.runId}); nothing new started`
        : `started pipeline ${started.pipelineId} (workflow ${started.workflowId}, run ${started.runId})`,
    );
    if (link) writeOut(`  ${link}`);
  }
  return EXIT_CODES.ok;
}

export async function statusCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
  const pipelineId = onePositional(positionals, 'pipeline id');
  const view = await (await ctx.pipelines()).getStatus(pipelineId);
  const link = webUiUrl(ctx.config, view.webUiPath);
  if (ctx.json) {
    printJson({ ...view, ...(link ? { webUiUrl: link } : {}) });
  } else {
    for (const line of statusLines(view, Date.now())) writeOut(line);
    if (link) writeOut(`  ${link}`);
  }
  return EXIT_CODES.ok;
}

export async function watchCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
  const pipelineId = onePositional(positionals, 'pipeline id');
  const intervalMs = optionalInteger(values, 'interval-ms', 10) ?? 1_000;
  const pipelines = await ctx.pipelines();
  const tty = !ctx.json && process.stdout.isTTY === true;
  let last: PipelineStatusView | undefined;
  let drawnLines = 0;
  const previousLines = new Map<string, string>();

  const draw = (): void => {
    if (!last) return;
    const lines = statusLines(last, Date.now());
    // Move to the start of the block drawn last time and overwrite it line by line.
    let text = drawnLines > 0 ? `\x1b[${drawnLines}F` : '';
    for (const line of lines) text += `\x1b[2K${terminalSafeLine(line)}\n`;
    for (let extra = lines.length; extra < drawnLines; extra++) text += '\x1b[2K\n';
    process.stdout.write(text);
    drawnLines = Math.max(lines.length, drawnLines);
  };
  // On a terminal the clock keeps moving between changes.
  const ticker = tty ? setInterval(draw, 1_000) : undefined;
  try {
    for await (const view of pipelines.watch(pipelineId, { intervalMs, signal: ctx.interrupt })) {
      last = view;
      if (ctx.json) continue;
      if (tty) {
        draw();
        continue;
      }
      const now = Date.now();
      const stamp = new Date(now).toISOString();
      const header = `pipeline ${view.pipelineId}: ${view.status} (Temporal ${view.runStatus})`;
      if (previousLines.get('') !== header) writeOut(`${stamp} ${header}`);
      previousLines.set('', header);
      const idWidth = Math.max(4, ...view.steps.map((s) => s.id.length));
      for (const step of view.steps) {
        // Plain output: a line only when a step's state or live details change, not as its clock ticks.
        const line = stepLine({ ...step, startedAt: undefined, finishedAt: undefined } as StepProgress, view.live?.[step.id], now, idWidth);
        if (previousLines.get(step.id) === line) continue;
        previousLines.set(step.id, line);
        writeOut(`${stamp} ${stepLine(step, view.live?.[step.id], now, idWidth).trimStart()}`);
      }
    }
  } finally {
    if (ticker) clearInterval(ticker);
  }
  if (ctx.interrupt.aborted) return EXIT_CODES.interrupted;
  if (!last) throw new Error('the watch ended without a status');
  if (ctx.json) printJson({ ...last, ...(webUiUrl(ctx.config, last.webUiPath) ? { webUiUrl: webUiUrl(ctx.config, last.webUiPath) } : {}) });
  else if (last.failure) writeOut(`failed: ${last.failure.message}`);
  return outcomeExitCode(last);
}

export async function cancelCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
  const pipelineId = onePositional(positionals, 'pipeline id');
  const reason = requireString(values, 'reason');
  const requestedBy = typeof values['requested-by'] === 'string' ? values['requested-by'] : `rcp (${process.env['USER'] ?? 'unknown user'})`;
  const pipelines = await ctx.pipelines();
  const before = await pipelines.getStatus(pipelineId);
  const running = before.runStatus === 'RUNNING';
  if (running) await pipelines.cancel(pipelineId, reason, requestedBy);
  const after = running ? await pipelines.getStatus(pipelineId) : before;
  if (ctx.json) {
    printJson({ pipelineId, cancelRequested: running, status: after.status, runStatus: after.runStatus });
  } else {
    writeOut(
      running
        ? `cancel requested for pipeline ${pipelineId} (now ${after.status}); RunComfy jobs are being cancelled, stored outputs are kept`
        : `pipeline ${pipelineId} already ended (${before.status}); nothing to cancel`,
    );
  }
  return EXIT_CODES.ok;
}

async function outputsWithLinks(pipelines: PipelineClient, outputs: readonly StepOutput[], canPresign: boolean): Promise<(StepOutput & { url?: string })[]> {
  return Promise.all(outputs.map(async (output) => (canPresign ? { ...output, url: await pipelines.presignOutput(output.key) } : { ...output })));
}

export async function resultCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
  const pipelineId = onePositional(positionals, 'pipeline id');
  const pipelines = await ctx.pipelines();
  const canPresign = ctx.config.store !== undefined;
  try {
    const result = await abortable(pipelines.result(pipelineId), ctx.interrupt);
    const outputs = await outputsWithLinks(pipelines, result.steps.flatMap((step) => step.outputs.map((o) => ({ stepId: step.id, ...o }))), canPresign);
    if (ctx.json) {
      printJson({ ...result, outputs });
    } else {
      writeOut(`pipeline ${pipelineId} succeeded in ${formatDuration(elapsedMs(result.startedAt, result.finishedAt, Date.now()))}: ${outputs.length} output file${outputs.length === 1 ? '' : 's'}`);
      printOutputs(outputs, canPresign);
    }
    return EXIT_CODES.ok;
  } catch (error) {
    if (error instanceof PipelineCancelledError) {
      const outputs = await outputsWithLinks(pipelines, error.outputs, canPresign);
      if (ctx.json) {
        printJson({ error: { ...errorDocument(error), outputs } });
      } else {
        writeOut(`pipeline ${pipelineId} was cancelled: ${error.reason}; ${outputs.length} output file${outputs.length === 1 ? '' : 's'} kept`);
        printOutputs(outputs, canPresign);
      }
      return EXIT_CODES.cancelled;
    }
    throw error;
  }
}

export async function listCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`list takes no positional arguments (got ${positionals.join(' ')})`);
  const status = values['status'];
  if (status !== undefined && !(PIPELINE_LIST_STATUSES as readonly unknown[]).includes(status)) {
    throw new UsageError(`--status must be one of ${PIPELINE_LIST_STATUSES.join(', ')}`);
  }
  const since = typeof values['since'] === 'string' ? parseSince(values['since']) : undefined;
  const limit = optionalInteger(values, 'limit', 1) ?? 50;
  const correlation: { userId?: string; characterId?: string } = {};
  for (const [option, field] of [['user', 'userId'], ['character', 'characterId']] as const) {
    const value = values[option];
    if (typeof value !== 'string') continue;
    if (!isUuid(value)) throw new UsageError(`--${option}: expected a UUID (8-4-4-4-12 hex digits)`);
    correlation[field] = value;
  }
  const summaries = await (await ctx.pipelines()).list({ ...(status ? { status: status as PipelineListStatus } : {}), ...(since ? { since } : {}), limit, ...correlation });
  if (ctx.json) {
    printJson({ pipelines: summaries });
  } else if (summaries.length === 0) {
    writeOut('no pipelines');
  } else {
    const idWidth = Math.max(8, ...summaries.map((s) => s.pipelineId.length));
    writeOut(`${'PIPELINE'.padEnd(idWidth)}  ${'STATUS'.padEnd(10)}  ${'STARTED'.padEnd(24)}  CLOSED`);
    for (const s of summaries) writeOut(`${s.pipelineId.padEnd(idWidth)}  ${s.status.padEnd(10)}  ${s.startedAt.padEnd(24)}  ${s.closedAt ?? '-'}`);
  }
  return EXIT_CODES.ok;
}
