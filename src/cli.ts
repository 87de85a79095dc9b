/**
 * The operator CLI: `npm run cli -- <command>` or `rcp <command>`. Configuration comes from the
 * environment (parsed once here); `--json` prints exactly one JSON document on stdout; exit codes
 * are stable (see HELP and docs/cli.md). Secrets from the environment are never printed.
 */
import { AesGcmPayloadCodec } from './codec/aes-gcm-codec.js';
import { loadPayloadKeys } from './codec/payload-keys.js';
import { terminalSafe, terminalSafeLine } from './text/terminal-safe.js';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  InvalidPipelineSpecError,
  isPipelineClientError,
  PIPELINE_LIST_STATUSES,
  PipelineAlreadyStartedError,
  PipelineCancelledError,
  PipelineClient,
  PipelineFailedError,
  PipelineNotFoundError,
  type LiveStepStatus,
  type PipelineListStatus,
  type PipelineStatusView,
  type StepOutput,
} from './client/index.js';
import { ConfigError, parseClientConfig, type ClientConfig } from './config.js';
import { checkBindings, isNodeLink } from './pipeline/bindings-check.js';
import { defaultPipelineSpec } from './pipeline/default-pipeline.js';
import { loadRegistryFileSync } from './pipeline/registry-file.js';
import { DeploymentRegistryError, type DeploymentEntry, type DeploymentRegistry } from './pipeline/registry.js';
import { RunComfyClient, RunComfyNotFoundError, isRunComfyError } from './runcomfy/index.js';
import type { PersistedOutput, PipelineProgress, StepProgress } from './shared/pipeline-contract.js';
import { formatBytes } from './client/format.js';

/** Exit codes a script can rely on. Documented in HELP and docs/cli.md; never renumbered. */
const EXIT_CODES = {
  ok: 0,
  pipelineFailed: 1,
  usage: 2,
  notFound: 3,
  cancelled: 4,
  alreadyStartedDifferentSpec: 5,
  interrupted: 130,
  unexpected: 10,
} as const;

const HELP = `rcp — operate generation pipelines (RunComfy jobs orchestrated by Temporal, outputs in R2)

Usage: rcp <command> [options]        (from a checkout: npm run cli -- <command> [options])

Commands:
  start --spec <file.json|->                 start a pipeline from a spec (- reads stdin)
  start --id <id> --prompt <text> --face-image <url|path> [--seed <n>]
                                             start the default chain t2i → faceswap → upscale → i2v;
                                             a local face image is uploaded to R2 first
  status <id>                                the pipeline's status, step by step
  watch <id> [--interval-ms <n>]             live progress until the pipeline ends
  cancel <id> --reason <text> [--requested-by <who>]
                                             cancel: RunComfy jobs are cancelled, stored outputs kept
  result <id>                                wait for the end; outputs with R2 keys, sizes, sha256, links
  list [--status <s>] [--since <time>] [--limit <n>]
                                             pipelines, newest first; status: ${PIPELINE_LIST_STATUSES.join(', ')};
                                             time: ISO 8601 or relative (30m, 12h, 7d)
  deployments list                           RunComfy deployments and the registry keys using them
  deployments inspect <registry key|deployment id>
                                             each node's overridable literal inputs, and a check of
                                             the registry entry's bindings against the graph

Options:
  --json        print one JSON document on stdout (errors too: {"error": {...}})
  -h, --help    this help

Exit codes:
  0   ok (status/list/cancel: the command worked, whatever the pipeline's state)
  1   the pipeline failed (result, watch), or binding problems (deployments inspect)
  2   usage or configuration error, invalid spec
  3   pipeline or deployment not found
  4   the pipeline was cancelled (result, watch)
  5   the pipeline id was already started with a different spec
  10  unexpected error (e.g. Temporal unreachable)
  130 interrupted (Ctrl-C during watch or result; the pipeline keeps running)

Environment:
  TEMPORAL_ADDRESS (127.0.0.1:7233), TEMPORAL_NAMESPACE (default), TEMPORAL_TASK_QUEUE
  (generation-pipelines), TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_UI_URL (for links);
  R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY, R2_REGION, R2_FORCE_PATH_STYLE
  (uploads and download links; optional), PRESIGN_TTL_SECONDS (86400);
  RUNCOMFY_BASE_URL, RUNCOMFY_TOKEN (deployments commands);
  DEPLOYMENT_REGISTRY_PATH (config/deployments.json);
  PAYLOAD_KEYS or PAYLOAD_KEY_FILE (the workers' payload keys, when they encrypt).
`;

/** A mistake in the command line: exit code 2. */
class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'USAGE';
}

/** The pipeline ended badly or a check failed: carries the exit code and the document already printed. */
class CommandOutcome {
  constructor(readonly exitCode: number) {}
}

interface Context {
  json: boolean;
  config: ClientConfig;
  interrupt: AbortSignal;
  /** Lazily connected, closed by `main`. */
  pipelines(): Promise<PipelineClient>;
  registry(required: boolean): DeploymentRegistry | undefined;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------------------------------------
// Output helpers

/** Every line the CLI prints goes through here: remote text must not drive the terminal. */
function writeOut(text: string): void {
  const safe = terminalSafe(text);
  process.stdout.write(safe.endsWith('\n') ? safe : `${safe}\n`);
}

function printJson(value: unknown): void {
  writeOut(JSON.stringify(value, null, 2));
}


function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

function elapsedMs(startedAt: string | undefined, finishedAt: string | undefined, now: number): number {
  if (!startedAt) return Number.NaN;
  return (finishedAt ? Date.parse(finishedAt) : now) - Date.parse(startedAt);
}

function webUiUrl(config: ClientConfig, path: string | undefined): string | undefined {
  return config.temporal.uiUrl && path ? `${config.temporal.uiUrl.replace(/\/$/, '')}${path}` : undefined;
}

function stepLine(step: StepProgress, live: LiveStepStatus | undefined, now: number, idWidth: number): string {
  const parts = [`  ${step.id.padEnd(idWidth)}  ${step.state.padEnd(15)}`];
  const elapsed = elapsedMs(step.startedAt, step.finishedAt, now);
  parts.push(Number.isNaN(elapsed) ? '        ' : formatDuration(elapsed).padStart(8));
  if (live?.queuePosition !== undefined && live.remoteStatus === 'in_queue') parts.push(`queued, ${live.queuePosition} ahead`);
  else if (live?.remoteStatus) parts.push(`RunComfy ${live.remoteStatus}`);
  if (live?.bytesCopied !== undefined) parts.push(`${formatBytes(live.bytesCopied)} copied${live.filesTotal ? ` (${live.filesDone ?? 0}/${live.filesTotal} files)` : ''}`);
  if (step.outputs.length > 0) parts.push(`${step.outputs.length} file${step.outputs.length === 1 ? '' : 's'}, ${formatBytes(step.outputs.reduce((sum, o) => sum + o.bytes, 0))}`);
  if (step.attempts.length > 1) parts.push(`attempt ${step.attempts.length}`);
  if (live?.lastFailure) parts.push(`retrying: ${live.lastFailure.slice(0, 80)}`);
  if (step.error) parts.push(`error: ${step.error.message.slice(0, 160)}`);
  return parts.join('  ');
}

function statusLines(view: PipelineStatusView, now: number): string[] {
  const done = view.steps.filter((s) => s.state === 'succeeded').length;
  const elapsed = formatDuration(elapsedMs(view.startedAt, view.finishedAt, now));
  const lines = [`pipeline ${view.pipelineId}: ${view.status} (${done}/${view.steps.length} steps done, ${elapsed}, Temporal ${view.runStatus})`];
  const idWidth = Math.max(4, ...view.steps.map((s) => s.id.length));
  for (const step of view.steps) lines.push(stepLine(step, view.live?.[step.id], now, idWidth));
  if (view.cancelReason) lines.push(`  cancel reason: ${view.cancelReason}`);
  // A step's error already says it; the failure line is for failures no step carries (terminated, invalid binding).
  if (view.failure && !view.steps.some((s) => s.error)) lines.push(`  failure: ${view.failure.failureType}: ${view.failure.message}`);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Argument helpers

const COMMON_OPTIONS = ['json', 'help'];
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  start: ['spec', 'id', 'prompt', 'face-image', 'seed'],
  status: [],
  watch: ['interval-ms'],
  cancel: ['reason', 'requested-by'],
  result: [],
  list: ['status', 'since', 'limit'],
  'deployments list': [],
  'deployments inspect': [],
};

type Values = Record<string, string | boolean | undefined>;

function requireString(values: Values, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`--${name} is required`);
  return value;
}

function optionalInteger(values: Values, name: string, min: number): number | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  const number = Number(value);
  if (typeof value !== 'string' || !/^-?\d+$/.test(value) || !Number.isSafeInteger(number) || number < min) throw new UsageError(`--${name} must be a whole number ≥ ${min}`);
  return number;
}

function onePositional(positionals: readonly string[], what: string): string {
  if (positionals.length !== 1 || !positionals[0]) throw new UsageError(`expected exactly one ${what}`);
  return positionals[0];
}

/** ISO 8601, or a span back from now: 90s, 30m, 12h, 7d. */
function parseSince(text: string, now: number = Date.now()): Date {
  const relative = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (relative) {
    const unitMs = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unitMs);
  }
  const date = new Date(text);
  if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(date.getTime())) throw new UsageError(`--since: expected an ISO 8601 time or a span like 30m, 12h, 7d; got "${text}"`);
  return date;
}

// ---------------------------------------------------------------------------------------------
// Commands

async function startCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
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

async function statusCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
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

function outcomeExitCode(view: PipelineProgress): number {
  if (view.status === 'succeeded') return EXIT_CODES.ok;
  if (view.status === 'cancelled') return EXIT_CODES.cancelled;
  return EXIT_CODES.pipelineFailed;
}

async function watchCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
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

async function cancelCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
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

function printOutputs(outputs: readonly (PersistedOutput & { stepId: string; url?: string })[], canPresign: boolean): void {
  for (const output of outputs) {
    writeOut(`  ${output.stepId}  ${output.key}  ${formatBytes(output.bytes)}  ${output.contentType}  sha256 ${output.sha256}`);
    if (output.url) writeOut(`    ${output.url}`);
  }
  if (!canPresign && outputs.length > 0) writeOut('  (set R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY to print download links)');
}

async function resultCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
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

async function listCommand(ctx: Context, values: Values, positionals: readonly string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError(`list takes no positional arguments (got ${positionals.join(' ')})`);
  const status = values['status'];
  if (status !== undefined && !(PIPELINE_LIST_STATUSES as readonly unknown[]).includes(status)) {
    throw new UsageError(`--status must be one of ${PIPELINE_LIST_STATUSES.join(', ')}`);
  }
  const since = typeof values['since'] === 'string' ? parseSince(values['since']) : undefined;
  const limit = optionalInteger(values, 'limit', 1) ?? 50;
  const summaries = await (await ctx.pipelines()).list({ ...(status ? { status: status as PipelineListStatus } : {}), ...(since ? { since } : {}), limit });
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

function runcomfyClient(ctx: Context): RunComfyClient {
  if (!ctx.config.runcomfy) throw new ConfigError(['RUNCOMFY_TOKEN: is required for the deployments commands']);
  return new RunComfyClient({ baseUrl: ctx.config.runcomfy.baseUrl, token: ctx.config.runcomfy.token, inferenceApiVersion: 'v2' });
}

function registryKeysFor(registry: DeploymentRegistry | undefined, deploymentId: string): string[] {
  return registry ? Object.entries(registry.deployments).filter(([, entry]) => entry.deploymentId === deploymentId).map(([key]) => key) : [];
}

async function deploymentsListCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
  if (positionals.length > 0) throw new UsageError('deployments list takes no arguments');
  const registry = ctx.registry(false);
  const runcomfy = runcomfyClient(ctx);
  try {
    const deployments = await runcomfy.listDeployments();
    const rows = deployments.map((d) => ({
      id: d.id,
      ...(d.name !== undefined ? { name: d.name } : {}),
      ...(d.status !== undefined ? { status: d.status } : {}),
      ...(d.isEnabled !== undefined ? { isEnabled: d.isEnabled } : {}),
      hardware: d.hardware,
      ...(d.minInstances !== undefined ? { minInstances: d.minInstances } : {}),
      ...(d.maxInstances !== undefined ? { maxInstances: d.maxInstances } : {}),
      ...(d.queueSize !== undefined ? { queueSize: d.queueSize } : {}),
      registryKeys: registryKeysFor(registry, d.id),
    }));
    if (ctx.json) {
      printJson({ deployments: rows });
    } else if (rows.length === 0) {
      writeOut('no deployments');
    } else {
      for (const row of rows) {
        writeOut(`${row.id}  ${row.name ?? '-'}  ${row.status ?? '-'}${row.isEnabled === false ? ' (disabled)' : ''}  ${row.hardware.join(',') || '-'}  instances ${row.minInstances ?? '?'}..${row.maxInstances ?? '?'}  registry: ${row.registryKeys.join(', ') || '-'}`);
      }
    }
    return EXIT_CODES.ok;
  } finally {
    await runcomfy.close();
  }
}

/** One node of a deployment's graph, with the inputs a job may override (literals, not links). */
interface NodeInputs {
  nodeId: string;
  classType?: string;
  title?: string;
  overridableInputs: Record<string, unknown>;
  linkedInputs: string[];
  /** Registry parameters bound to this node: input key → parameter names. */
  boundParams: Record<string, string[]>;
}

function graphNodes(workflowApiJson: unknown, entries: readonly [string, DeploymentEntry][]): NodeInputs[] {
  let graph = workflowApiJson;
  if (typeof graph === 'string') {
    try {
      graph = JSON.parse(graph) as unknown;
    } catch {
      return [];
    }
  }
  if (typeof graph !== 'object' || graph === null || Array.isArray(graph)) return [];
  const nodes: NodeInputs[] = [];
  for (const [nodeId, node] of Object.entries(graph as Record<string, unknown>)) {
    if (typeof node !== 'object' || node === null) continue;
    const { class_type: classType, _meta: meta, inputs } = node as { class_type?: unknown; _meta?: { title?: unknown }; inputs?: unknown };
    const overridableInputs: Record<string, unknown> = {};
    const linkedInputs: string[] = [];
    if (typeof inputs === 'object' && inputs !== null) {
      for (const [key, value] of Object.entries(inputs as Record<string, unknown>)) {
        if (isNodeLink(value)) linkedInputs.push(key);
        else overridableInputs[key] = value;
      }
    }
    const boundParams: Record<string, string[]> = {};
    for (const [key, entry] of entries) {
      for (const [param, binding] of Object.entries(entry.bindings)) {
        if (binding.nodeId !== nodeId) continue;
        (boundParams[binding.inputKey] ??= []).push(entries.length > 1 ? `${key}.${param}` : param);
      }
    }
    nodes.push({
      nodeId,
      ...(typeof classType === 'string' ? { classType } : {}),
      ...(typeof meta?.title === 'string' ? { title: meta.title } : {}),
      overridableInputs,
      linkedInputs,
      boundParams,
    });
  }
  // Node ids are numbers in most graphs ("68:6" in subgraphs): sort them as people count.
  return nodes.sort((a, b) => a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }));
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 70 ? `${text.slice(0, 67)}...` : text;
}

async function deploymentsInspectCommand(ctx: Context, _values: Values, positionals: readonly string[]): Promise<number> {
  const target = onePositional(positionals, 'registry key or deployment id');
  const registry = ctx.registry(false);
  const byKey = registry && Object.hasOwn(registry.deployments, target) ? registry.deployments[target] : undefined;
  const deploymentId = byKey?.deploymentId ?? target;
  const entries: [string, DeploymentEntry][] = registry ? Object.entries(registry.deployments).filter(([, entry]) => entry.deploymentId === deploymentId) : [];
  const runcomfy = runcomfyClient(ctx);
  try {
    const deployment = await runcomfy.getDeployment(deploymentId, { includes: ['payload'] });
    const workflowApiJson = deployment.payload?.workflowApiJson;
    const nodes = workflowApiJson === undefined ? [] : graphNodes(workflowApiJson, entries);
    const bindingChecks = entries.map(([key, entry]) => ({
      registryKey: key,
      kind: entry.kind,
      problems: workflowApiJson === undefined ? [{ code: 'invalid-workflow', deploymentKey: key, message: `deployment "${key}": RunComfy returned no workflow_api_json` }] : checkBindings(entry, workflowApiJson, key),
    }));
    const problemCount = bindingChecks.reduce((sum, check) => sum + check.problems.length, 0);
    if (ctx.json) {
      printJson({
        deployment: {
          id: deployment.id,
          ...(deployment.name !== undefined ? { name: deployment.name } : {}),
          ...(deployment.status !== undefined ? { status: deployment.status } : {}),
          ...(deployment.workflowId !== undefined ? { workflowId: deployment.workflowId } : {}),
          ...(deployment.workflowVersion !== undefined ? { workflowVersion: deployment.workflowVersion } : {}),
          hardware: deployment.hardware,
        },
        registryKeys: entries.map(([key]) => key),
        nodes,
        bindingChecks,
        ok: problemCount === 0,
      });
    } else {
      writeOut(`deployment ${deployment.id}${deployment.name ? ` (${deployment.name})` : ''}: ${nodes.length} nodes; registry: ${entries.map(([k]) => k).join(', ') || 'no entry'}`);
      if (workflowApiJson === undefined) writeOut('  RunComfy returned no workflow_api_json for this deployment');
      for (const node of nodes) {
        const keys = Object.keys(node.overridableInputs);
        if (keys.length === 0) continue;
        writeOut(`  node ${node.nodeId} ${node.classType ?? '?'}${node.title && node.title !== node.classType ? ` "${node.title}"` : ''}`);
        for (const key of keys) {
          const bound = node.boundParams[key];
          writeOut(`    ${key} = ${preview(node.overridableInputs[key])}${bound ? `   ← ${bound.join(', ')}` : ''}`);
        }
      }
      for (const check of bindingChecks) {
        if (check.problems.length === 0) writeOut(`bindings of "${check.registryKey}": ok`);
        else for (const problem of check.problems) writeOut(`binding problem: ${problem.message}`);
      }
    }
    return problemCount > 0 ? EXIT_CODES.pipelineFailed : EXIT_CODES.ok;
  } finally {
    await runcomfy.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Errors → documents and exit codes

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new CommandOutcome(EXIT_CODES.interrupted));
  return new Promise((resolvePromise, reject) => {
    const onAbort = (): void => reject(new CommandOutcome(EXIT_CODES.interrupted));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolvePromise(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommandOutcome) return error.exitCode;
  if (error instanceof UsageError || error instanceof ConfigError || error instanceof InvalidPipelineSpecError || error instanceof DeploymentRegistryError) return EXIT_CODES.usage;
  if (isPipelineClientError(error) && error.code === 'PIPELINE_CLIENT_NOT_CONFIGURED') return EXIT_CODES.usage;
  if (error instanceof PipelineNotFoundError || error instanceof RunComfyNotFoundError) return EXIT_CODES.notFound;
  if (error instanceof PipelineFailedError) return EXIT_CODES.pipelineFailed;
  if (error instanceof PipelineCancelledError) return EXIT_CODES.cancelled;
  if (error instanceof PipelineAlreadyStartedError) return EXIT_CODES.alreadyStartedDifferentSpec;
  return EXIT_CODES.unexpected;
}

/** A secret-free JSON description of an error: name, code, message and the typed fields. */
function errorDocument(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { name: 'Error', code: 'UNEXPECTED', message: String(error) };
  const base: Record<string, unknown> = { name: error.name, code: (error as { code?: unknown }).code ?? 'UNEXPECTED', message: error.message };
  if (error instanceof InvalidPipelineSpecError) base['issues'] = error.issues;
  if (error instanceof ConfigError) base['problems'] = error.problems;
  if (error instanceof DeploymentRegistryError) base['issues'] = error.issues;
  if (error instanceof PipelineFailedError) Object.assign(base, { pipelineId: error.pipelineId, ...error.toInfo(), message: error.message });
  if (error instanceof PipelineCancelledError) Object.assign(base, { pipelineId: error.pipelineId, reason: error.reason });
  if (error instanceof PipelineNotFoundError || error instanceof PipelineAlreadyStartedError) base['pipelineId'] = error.pipelineId;
  if (isRunComfyError(error)) base['operation'] = error.operation;
  return base;
}

// ---------------------------------------------------------------------------------------------
// Entry point

const COMMANDS: Record<string, (ctx: Context, values: Values, positionals: readonly string[]) => Promise<number>> = {
  start: startCommand,
  status: statusCommand,
  watch: watchCommand,
  cancel: cancelCommand,
  result: resultCommand,
  list: listCommand,
  'deployments list': deploymentsListCommand,
  'deployments inspect': deploymentsInspectCommand,
};

function resolveRegistryPath(path: string): string {
  if (isAbsolute(path) || existsSync(path)) return path;
  // Run from elsewhere (`rcp` on the PATH): fall back on the checkout's own registry.
  const fromRepo = resolve(REPO_ROOT, path);
  return existsSync(fromRepo) ? fromRepo : path;
}

async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        spec: { type: 'string' },
        id: { type: 'string' },
        prompt: { type: 'string' },
        'face-image': { type: 'string' },
        seed: { type: 'string' },
        reason: { type: 'string' },
        'requested-by': { type: 'string' },
        status: { type: 'string' },
        since: { type: 'string' },
        limit: { type: 'string' },
        'interval-ms': { type: 'string' },
      },
    });
  } catch (error) {
    const json = argv.includes('--json');
    return report(new UsageError(`${(error as Error).message} (see rcp --help)`), json);
  }
  const { values, positionals } = parsed;
  const json = values.json === true;
  if (values.help) {
    process.stdout.write(HELP);
    return EXIT_CODES.ok;
  }
  const [first, second, ...rest] = positionals;
  const name = first === 'deployments' ? `deployments ${second ?? ''}`.trim() : first;
  const args = first === 'deployments' ? rest : positionals.slice(1);
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command || name === undefined) {
    if (name === undefined) {
      process.stderr.write(HELP);
      return EXIT_CODES.usage;
    }
    return report(new UsageError(`unknown command "${name}" (see rcp --help)`), json);
  }
  const allowed = new Set([...COMMON_OPTIONS, ...(COMMAND_OPTIONS[name] ?? [])]);
  const misplaced = Object.keys(values).filter((option) => !allowed.has(option));
  if (misplaced.length > 0) return report(new UsageError(`${name} does not take ${misplaced.map((o) => `--${o}`).join(', ')} (see rcp --help)`), json);

  const interrupt = new AbortController();
  const onSignal = (): void => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let client: Promise<PipelineClient> | undefined;
  let registryCache: { value: DeploymentRegistry | undefined } | undefined;
  try {
    const config = parseClientConfig(process.env);
    let payloadKeys;
    try {
      payloadKeys = loadPayloadKeys(config.payloadKeys);
    } catch (error) {
      throw new ConfigError([(error as Error).message]);
    }
    const ctx: Context = {
      json,
      config,
      interrupt: interrupt.signal,
      pipelines: () =>
        (client ??= PipelineClient.connect({
          address: config.temporal.address,
          namespace: config.temporal.namespace,
          taskQueue: config.temporal.taskQueue,
          tls: config.temporal.tls,
          ...(config.temporal.apiKey !== undefined ? { apiKey: config.temporal.apiKey } : {}),
          ...(config.store ? { store: config.store } : {}),
          presignTtlSeconds: config.presignTtlSeconds,
          ...(payloadKeys ? { payloadCodec: new AesGcmPayloadCodec(payloadKeys) } : {}),
          ...(ctx.registry(false) ? { registry: ctx.registry(false) } : {}),
        }).catch((error: unknown) => {
          throw new Error(`cannot reach Temporal at ${config.temporal.address}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        })),
      registry: (required) => {
        if (!registryCache) {
          const path = resolveRegistryPath(config.registryPath);
          registryCache = { value: existsSync(path) || required ? loadRegistryFileSync(path) : undefined };
        }
        return registryCache.value;
      },
    };
    return await command(ctx, values, args);
  } catch (error) {
    return report(error, json);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (client) await client.then((c) => c.close(), () => undefined);
  }
}

function report(error: unknown, json: boolean): number {
  const exitCode = exitCodeFor(error);
  if (error instanceof CommandOutcome) return exitCode;
  const document = errorDocument(error);
  if (json) {
    printJson({ error: document });
  } else {
    const writeErr = (line: string): boolean => process.stderr.write(`${terminalSafe(line)}\n`);
    writeErr(`rcp: ${String(document['message'])}`);
    if (error instanceof InvalidPipelineSpecError) for (const issue of error.issues) writeErr(`  ${issue.path || '(spec)'}: ${issue.message}`);
    if (error instanceof PipelineFailedError) {
      if (error.stepId) writeErr(`  step: ${error.stepId}`);
      if (error.requestId) writeErr(`  RunComfy request: ${error.requestId}`);
    }
    if (exitCode === EXIT_CODES.unexpected && error instanceof Error && error.cause instanceof Error && !error.message.includes(error.cause.message)) {
      writeErr(`  cause: ${error.cause.message}`);
    }
  }
  return exitCode;
}

const exitCode = await main(process.argv.slice(2));
// Pipes and files are written synchronously on Linux, but give stdout its callback anyway.
process.stdout.write('', () => process.exit(exitCode));
