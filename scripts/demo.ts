/**
 * `npm run demo`: one command that shows the whole system working.
 *
 * It starts whatever is not configured as a real service (the Temporal dev server with its Web UI,
 * the RunComfy emulator seeded with the default workflows, the local S3 server), runs a pipeline
 * worker in this process, stores a small face image, runs the default t2i → faceswap → upscale → i2v
 * pipeline with live progress, prints the persisted outputs with presigned links and the Web UI
 * link, and stops everything again (or keeps it running with --keep). `--help` lists the flags;
 * docs/demo.md explains them.
 */
import { startLocalEncryption, type LocalEncryption } from '../src/codec/local-encryption.js';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { InvalidPipelineSpecError, PipelineAlreadyStartedError, PipelineClient, type LiveStepStatus, type PipelineStatusView, type StepProgress } from '../src/client/index.js';
import { ConfigError } from '../src/config.js';
import {
  ensureLocalTools,
  inProcessWorkerConfig,
  installWorkerLogging,
  prebundleWorkflows,
  PROJECT_ROOT,
  sampleFacePng,
  startInProcessWorker,
  startLocalStack,
  type InProcessWorker,
  type LocalStack,
} from '../src/devstack/local-stack.js';
import { MissingToolError } from '../src/devstack/tool-paths.js';
import { parseDurationMs, parseSizeBytes } from '../src/emulator/cli-options.js';
import {
  defaultChainKinds,
  defaultPipelineSpec,
  defaultStepIds,
  DeploymentRegistryError,
  registryDefaultKey,
  validatePipelineSpec,
  type DeploymentRegistry,
} from '../src/pipeline/index.js';
import { loadRegistryFileSync } from '../src/pipeline/registry-file.js';
import { DEFAULT_TASK_QUEUE, pipelineWorkflowId } from '../src/shared/pipeline-contract.js';
import { formatBytes } from '../src/client/format.js';

// ------------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------------

const USAGE = `usage: npm run demo -- [flags]

Starts what is not configured (Temporal dev server + Web UI, RunComfy emulator, local S3 server),
runs the default t2i → faceswap → upscale → i2v pipeline with live progress, prints its outputs,
then stops everything.

  --prompt <text>         prompt of the image (and video) steps
  --face-image <path>     PNG/JPEG/WebP face to swap in (default: a small generated face)
  --pipeline-id <id>      pipeline id (default demo-<time>-<random>); [A-Za-z0-9._:-]
  --keep                  leave the stack running after the pipeline and print how to reach it
  --json                  print one JSON document on stdout; progress goes to stderr
                          (npm prints a banner on stdout: use \`npm run -s demo -- --json\`)
  --timeout <duration>    give up waiting for the pipeline after this long (default 15m)
  --poll-interval <dur>   worker's first status poll interval (default 250ms; grows to 2s)

Emulator only (ignored with a real RunComfy):
  --job-duration <dur>    run time of every job (default per step: 2.5s, 1.5s, 3s, 4s)
  --jitter <dur>          random +/- offset of each run time (default 400ms)
  --cold-start <dur>      start-up of the first GPU instance, felt by the first job (default 2s)
  --output-size <size>    pad every output file to this size, e.g. 32MiB (default: the video 8MiB)

  --help                  show this help

Real services are used when configured in the environment:
  RUNCOMFY_TOKEN (+ RUNCOMFY_BASE_URL)                          instead of the emulator
  R2_ENDPOINT, R2_BUCKET, R2_ACCESS_KEY_ID, R2_SECRET_ACCESS_KEY  instead of the local S3 server
  TEMPORAL_ADDRESS (+ TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS, TEMPORAL_UI_URL,
                    TEMPORAL_TASK_QUEUE)                       instead of the dev server
  DEPLOYMENT_REGISTRY_PATH                                      the deployment registry (default config/deployments.json)
Durations: 1500, 500ms, 2s, 3m. Sizes: 1048576, 512KiB, 8MiB.`;

/** Default emulator run time per step kind: realistic in shape, short enough for a demo. */
const DEFAULT_JOB_DURATION_MS = { t2i: 2_500, faceswap: 1_500, upscale: 3_000, i2v: 4_000 } as const;
const DEFAULT_VIDEO_OUTPUT_BYTES = 8 * 1024 * 1024;
const DEFAULT_PROMPT = 'a lighthouse on a rocky cliff at dusk, warm light, cinematic';
const PRESIGN_TTL_SECONDS = 24 * 3600;
/** After Ctrl-C, how long the demo waits for the pipeline to cancel its jobs before stopping anyway. */
const CANCEL_WAIT_MS = 15_000;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

interface DemoFlags {
  prompt: string;
  faceImagePath?: string;
  pipelineId: string;
  keep: boolean;
  json: boolean;
  timeoutMs: number;
  pollIntervalMs: number;
  jobDurationMs?: number;
  jitterMs: number;
  coldStartMs: number;
  outputSizeBytes?: number;
  help: boolean;
}

function defaultPipelineId(): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `demo-${stamp}-${randomBytes(2).toString('hex')}`;
}

function parseFlags(argv: string[]): DemoFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        prompt: { type: 'string' },
        'face-image': { type: 'string' },
        'pipeline-id': { type: 'string' },
        keep: { type: 'boolean' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        'poll-interval': { type: 'string' },
        'job-duration': { type: 'string' },
        jitter: { type: 'string' },
        'cold-start': { type: 'string' },
        'output-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const duration = (flag: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    try {
      return parseDurationMs(text);
    } catch (error) {
      throw new UsageError(`--${flag}: ${(error as Error).message}`);
    }
  };
  let outputSizeBytes: number | undefined;
  if (values['output-size'] !== undefined) {
    try {
      outputSizeBytes = parseSizeBytes(values['output-size']);
    } catch (error) {
      throw new UsageError(`--output-size: ${(error as Error).message}`);
    }
  }
  const pollIntervalMs = duration('poll-interval', values['poll-interval']) ?? 250;
  if (pollIntervalMs < 1) throw new UsageError('--poll-interval must be at least 1ms');
  const jobDurationMs = duration('job-duration', values['job-duration']);
  return {
    prompt: values.prompt ?? DEFAULT_PROMPT,
    ...(values['face-image'] !== undefined ? { faceImagePath: values['face-image'] } : {}),
    pipelineId: values['pipeline-id'] ?? defaultPipelineId(),
    keep: values.keep ?? false,
    json: values.json ?? false,
    timeoutMs: duration('timeout', values.timeout) ?? 15 * 60_000,
    pollIntervalMs,
    ...(jobDurationMs !== undefined ? { jobDurationMs } : {}),
    jitterMs: duration('jitter', values.jitter) ?? 400,
    coldStartMs: duration('cold-start', values['cold-start']) ?? 2_000,
    ...(outputSizeBytes !== undefined ? { outputSizeBytes } : {}),
    help: values.help ?? false,
  };
}

// ------------------------------------------------------------------------------------------------
// Environment: parsed once, here. A configured service is used as is; the rest is started locally.
// ------------------------------------------------------------------------------------------------

const optionalText = z.string().min(1).optional();
const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });
// The spellings the worker's configuration accepts.
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

const demoEnvSchema = z
  .object({
    RUNCOMFY_TOKEN: optionalText,
    RUNCOMFY_BASE_URL: httpUrl.optional(),
    RUNCOMFY_INFERENCE_API_VERSION: z.enum(['v1', 'v2'], { error: 'expected v1 or v2' }).optional(),
    R2_ENDPOINT: httpUrl.optional(),
    R2_BUCKET: optionalText,
    R2_ACCESS_KEY_ID: optionalText,
    R2_SECRET_ACCESS_KEY: optionalText,
    R2_REGION: optionalText,
    R2_FORCE_PATH_STYLE: bool.optional(),
    TEMPORAL_ADDRESS: optionalText,
    TEMPORAL_NAMESPACE: optionalText,
    TEMPORAL_TASK_QUEUE: optionalText,
    TEMPORAL_API_KEY: optionalText,
    TEMPORAL_TLS: bool.optional(),
    /** Base URL of the Web UI of a real Temporal (the dev server's is known). */
    TEMPORAL_UI_URL: httpUrl.optional(),
    DEPLOYMENT_REGISTRY_PATH: optionalText,
    WORKFLOW_BUNDLE_PATH: optionalText,
  })
  .superRefine((env, ctx) => {
    const r2 = ['R2_ENDPOINT', 'R2_BUCKET', 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY'] as const;
    const set = r2.filter((name) => env[name] !== undefined);
    if (set.length > 0 && set.length < r2.length) {
      for (const name of r2.filter((n) => env[n] === undefined)) {
        ctx.addIssue({ code: 'custom', path: [name], message: `is required when ${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set (R2 needs all four; unset them all for the local S3 server)` });
      }
    }
    if (env.RUNCOMFY_TOKEN !== undefined && set.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['R2_ENDPOINT'],
        message: 'is required with RUNCOMFY_TOKEN: RunComfy downloads each step\'s inputs from the object store, which a local S3 server on 127.0.0.1 cannot offer',
      });
    }
  });

type DemoEnv = z.infer<typeof demoEnvSchema>;

function parseDemoEnv(env: NodeJS.ProcessEnv): DemoEnv {
  // Empty strings count as unset, as in the worker's configuration.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = demoEnvSchema.safeParse(cleaned);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`));
  return parsed.data;
}

// ------------------------------------------------------------------------------------------------
// Output: plain timestamped lines, or per-step lines redrawn in place on a terminal.
// ------------------------------------------------------------------------------------------------

const STATE_MARKS: Record<string, string> = { succeeded: '✔', failed: '✖', cancelled: '⊘', skipped: '·', pending: '○' };
const FINAL_PIPELINE_STATUSES = new Set(['succeeded', 'failed', 'cancelled']);


function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

function stepElapsedMs(step: StepProgress, nowMs: number): number | undefined {
  if (!step.startedAt) return undefined;
  const end = step.finishedAt ? Date.parse(step.finishedAt) : nowMs;
  return Math.max(0, end - Date.parse(step.startedAt));
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
  if (live?.lastFailure) parts.push(`retrying after: ${live.lastFailure}`);
  if (step.requestId) parts.push(`request ${step.requestId.slice(0, 8)}`);
  if (step.error) parts.push(`${step.error.type}: ${step.error.message}`);
  return bar + parts.join(', ');
}

/** Progress and messages for a person; in --json mode all of it goes to stderr. */
class ProgressOutput {
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
    const draw = (): void => this.drawBlock([`${label} ${formatSeconds(Date.now() - startedMs)}`]);
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
      this.log(`${step.id === step.kind ? step.id : `${step.id} (${step.kind})`}: ${text}${elapsed === undefined ? '' : ` at ${formatSeconds(elapsed)}`}`);
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
    const header = `pipeline ${view.pipelineId}  ${view.status}  ${formatSeconds(end - Date.parse(view.startedAt))}`;
    const lines = [header, ...view.steps.map((step) => this.stepLine(step, view.live?.[step.id], nowMs))];
    this.drawBlock(lines);
  }

  private stepLine(step: StepProgress, live: LiveStepStatus | undefined, nowMs: number): string {
    const mark = STATE_MARKS[step.state] ?? '▸';
    const elapsed = stepElapsedMs(step, nowMs);
    const detail = stepDetail(step, live, nowMs, this.outputBytesPerFile.get(step.id));
    const name = step.id === step.kind ? step.id : `${step.id} (${step.kind})`;
    return ` ${mark} ${name.padEnd(10)} ${step.state.padEnd(15)} ${(elapsed === undefined ? '' : formatSeconds(elapsed)).padStart(6)}  ${detail}`;
  }

  private clock(): string {
    const d = new Date();
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)} +${formatSeconds(Date.now() - this.startedAtMs)}`;
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

// ------------------------------------------------------------------------------------------------
// The run
// ------------------------------------------------------------------------------------------------

/** Ctrl-C (or SIGTERM) during a phase that must end early. */
class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

interface OutputReport {
  key: string;
  bytes: number;
  sha256: string;
  contentType: string;
}

/** The one JSON document of --json. */
interface DemoReport {
  status: string;
  pipelineId: string;
  workflowId: string | null;
  runId: string | null;
  webUiUrl: string | null;
  steps: { id: string; kind: string; state: string; requestId: string | null; outputs: OutputReport[] }[];
  error?: string;
  /** With --keep: how to reach the running stack. */
  stack?: Record<string, unknown>;
}

const FACE_CONTENT_TYPES: Record<string, string> = { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' };

function readFaceImage(path: string | undefined): { bytes: Buffer; contentType: string; extension: string } {
  if (path === undefined) return { bytes: sampleFacePng(), contentType: 'image/png', extension: '.png' };
  const extension = extname(path).toLowerCase();
  const contentType = FACE_CONTENT_TYPES[extension];
  if (!contentType) throw new UsageError(`--face-image: ${path} must be a .png, .jpg, .jpeg or .webp file`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    throw new UsageError(`--face-image: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (bytes.length === 0) throw new UsageError(`--face-image: ${path} is empty`);
  return { bytes, contentType, extension };
}

/**
 * Emulator timing per deployment: realistic run times, and a cold start felt by the first step only.
 * Returns the padded size of each output file per step id, where set.
 */
async function tuneEmulator(stack: LocalStack, registry: DeploymentRegistry, flags: DemoFlags, out: ProgressOutput): Promise<Map<string, number>> {
  const bytesPerFile = new Map<string, number>();
  const emulator = stack.emulator;
  if (!emulator) return bytesPerFile;
  for (const [index, kind] of defaultChainKinds.entries()) {
    const key = registryDefaultKey(registry, kind) ?? kind;
    const deploymentId = registry.deployments[key]?.deploymentId;
    if (!deploymentId) continue;
    if (!emulator.deployments.some((d) => d.id === deploymentId)) {
      out.log(`note: the emulator has no deployment ${deploymentId} (registry entry "${key}"): the ${kind} step will be refused`);
      continue;
    }
    const outputSizeBytes = flags.outputSizeBytes ?? (kind === 'i2v' ? DEFAULT_VIDEO_OUTPUT_BYTES : undefined);
    await emulator.admin.updateDeploymentConfig(deploymentId, {
      timing: { durationMs: flags.jobDurationMs ?? DEFAULT_JOB_DURATION_MS[kind], jitterMs: flags.jitterMs, coldStartMs: index === 0 ? flags.coldStartMs : 0 },
      // Later steps find a warm instance, as on a deployment in steady use.
      min_instances: index === 0 ? 0 : 1,
      ...(outputSizeBytes !== undefined ? { outputSizeBytes } : {}),
    });
    if (outputSizeBytes !== undefined) bytesPerFile.set(defaultStepIds[kind], outputSizeBytes);
  }
  return bytesPerFile;
}

function toReport(view: PipelineStatusView | undefined, base: Omit<DemoReport, 'steps' | 'status'> & { status?: string }): DemoReport {
  return {
    status: view?.status ?? base.status ?? 'error',
    pipelineId: base.pipelineId,
    workflowId: base.workflowId,
    runId: base.runId,
    webUiUrl: base.webUiUrl,
    steps: (view?.steps ?? []).map((step) => ({
      id: step.id,
      kind: step.kind,
      state: step.state,
      requestId: step.requestId ?? null,
      outputs: step.outputs.map((o) => ({ key: o.key, bytes: o.bytes, sha256: o.sha256, contentType: o.contentType })),
    })),
    ...(base.error !== undefined ? { error: base.error } : {}),
    ...(base.stack !== undefined ? { stack: base.stack } : {}),
  };
}

/** Errors that are the user's to fix: one clear message, no stack trace, exit code 2. */
function isUserError(error: unknown): boolean {
  return (
    error instanceof UsageError ||
    error instanceof ConfigError ||
    error instanceof DeploymentRegistryError ||
    error instanceof InvalidPipelineSpecError ||
    error instanceof PipelineAlreadyStartedError
  );
}

function describeError(error: unknown): string {
  if (error instanceof MissingToolError || isUserError(error)) return (error as Error).message;
  if (error instanceof Error && error.cause instanceof MissingToolError) return error.cause.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `\n  cause: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

function realWorkflowUrl(base: string, webUiPath: string): string {
  return `${base.replace(/\/+$/, '')}${webUiPath}`;
}

async function main(): Promise<number> {
  // The README states the supported Node versions; the SDK's reminder would only clutter the demo.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  let flags: DemoFlags;
  let env: DemoEnv;
  try {
    flags = parseFlags(process.argv.slice(2));
    if (flags.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    env = parseDemoEnv(process.env);
  } catch (error) {
    process.stderr.write(`demo: ${describeError(error)}\n${error instanceof UsageError ? '\nrun `npm run demo -- --help` for the flags\n' : ''}`);
    return 2;
  }

  const progressStream = flags.json ? process.stderr : process.stdout;
  const out = new ProgressOutput(progressStream, progressStream.isTTY === true);
  const local = { temporal: env.TEMPORAL_ADDRESS === undefined, s3: env.R2_ENDPOINT === undefined, emulator: env.RUNCOMFY_TOKEN === undefined };
  const registryPath = resolve(env.DEPLOYMENT_REGISTRY_PATH ?? join(PROJECT_ROOT, 'config', 'deployments.json'));
  const namespace = env.TEMPORAL_NAMESPACE ?? 'default';
  // On a shared Temporal a queue of its own keeps the demo's worker and deployed workers apart.
  const taskQueue = env.TEMPORAL_TASK_QUEUE ?? (local.temporal ? DEFAULT_TASK_QUEUE : `pipeline-demo-${randomBytes(4).toString('hex')}`);

  let report = toReport(undefined, { pipelineId: flags.pipelineId, workflowId: pipelineWorkflowId(flags.pipelineId), runId: null, webUiUrl: null });
  let exitCode = 1;

  // First Ctrl-C: stop gracefully (cancel the pipeline's jobs, stop the servers). Second: leave at
  // once; the servers' watchdogs end them within a second.
  const interrupted = new AbortController();
  let workDir: string | undefined;
  let keepWorkDir = false;
  let firstSignalAtMs = 0;
  const onSignal = (): void => {
    if (!interrupted.signal.aborted) {
      firstSignalAtMs = Date.now();
      out.log('stopping… (Ctrl-C again to stop at once)');
      interrupted.abort();
      return;
    }
    // One Ctrl-C reaches this process up to three times: from the terminal, and relayed by npm and tsx.
    if (Date.now() - firstSignalAtMs < 1_500) return;
    out.endBlock();
    if (workDir && !keepWorkDir) rmSync(workDir, { recursive: true, force: true });
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const checkInterrupted = (): void => {
    if (interrupted.signal.aborted) throw new InterruptedError('interrupted');
  };

  let stack: LocalStack | undefined;
  let worker: InProcessWorker | undefined;
  let client: PipelineClient | undefined;
  let encryption: LocalEncryption | undefined;

  const shutdown = async (): Promise<void> => {
    const startedMs = Date.now();
    const parts: [string, (() => Promise<void>) | undefined][] = [
      ['client', client && (() => client!.close())],
      ['worker', worker && (() => worker!.stop())],
      ['servers', stack && (() => stack!.stop())],
      ['codec server', encryption && (() => encryption!.close())],
    ];
    for (const [what, stop] of parts) {
      if (!stop) continue;
      try {
        await stop();
      } catch (error) {
        out.log(`could not stop the ${what} cleanly: ${describeError(error)}`);
      }
    }
    if (workDir && !keepWorkDir) rmSync(workDir, { recursive: true, force: true });
    const stopped = [client && 'client', worker && 'worker', stack?.temporal && 'Temporal', stack?.s3 && 'S3 server', stack?.emulator && 'emulator'].filter(Boolean);
    if (stopped.length > 0) out.log(`stopped ${stopped.join(', ')} in ${formatSeconds(Date.now() - startedMs)}`);
  };

  try {
    installWorkerLogging((line) => out.log(`worker ${line}`));
    const registry = loadRegistryFileSync(registryPath);
    const face = readFaceImage(flags.faceImagePath);
    // Refuse a bad pipeline id, prompt or registry now, not after the servers have started.
    const draft = validatePipelineSpec(defaultPipelineSpec({ pipelineId: flags.pipelineId, prompt: flags.prompt, faceImageUrl: 'https://face.invalid/face.png' }, registry), registry);
    if (!draft.ok) throw new UsageError(`the pipeline would be refused:\n  ${draft.issues.map((i) => `${i.path || '(spec)'}: ${i.message}`).join('\n  ')}`);

    out.log(`Temporal      ${local.temporal ? 'local: Temporal CLI dev server with Web UI' : `real: ${env.TEMPORAL_ADDRESS}, namespace ${namespace}`}`);
    out.log(`RunComfy      ${local.emulator ? 'local: RunComfy emulator with the default workflows' : `real: ${env.RUNCOMFY_BASE_URL ?? 'https://api.runcomfy.net'}`}`);
    out.log(`object store  ${local.s3 ? 'local: S3 server (Ceph radosgw)' : `real: ${env.R2_ENDPOINT}, bucket ${env.R2_BUCKET}`}`);
    out.log(`worker        local: in this process, task queue ${taskQueue}`);
    out.log(`registry      ${registryPath}`);

    await ensureLocalTools(
      { temporal: local.temporal, ceph: local.s3 },
      { env: process.env, onProvision: (missing) => out.log(`installing what is missing with scripts/provision.sh: ${missing.map((m) => m.tool).join('; ')}`) },
    );
    checkInterrupted();

    workDir = mkdtempSync(join(tmpdir(), 'rcp-demo-'));
    const startedMs = Date.now();
    const starting = [local.temporal && 'Temporal', local.s3 && 'S3 server', local.emulator && 'emulator'].filter(Boolean).join(', ');
    const startingLabel = `starting ${starting || 'the worker'}${local.s3 || local.temporal ? ' (about 15 s)' : ''}…`;
    if (!out.redraw) out.log(startingLabel);
    const indicator = out.waiting(startingLabel);
    const bundlePath = env.WORKFLOW_BUNDLE_PATH && existsSync(env.WORKFLOW_BUNDLE_PATH) ? env.WORKFLOW_BUNDLE_PATH : undefined;
    // Encryption is on in the demo: history holds ciphertext, the Web UI decodes via the codec server.
    encryption = await startLocalEncryption(process.env['PAYLOAD_KEYS'] || undefined);
    const [stackResult, bundleResult] = await Promise.allSettled([
      startLocalStack({
        workDir,
        toolEnv: process.env,
        ...(local.temporal ? { temporal: { namespace, uiCodecEndpoint: encryption.uiCodecEndpoint } } : {}),
        ...(local.s3 ? { s3: {} } : {}),
        ...(local.emulator
          ? {
              emulator: {
                token: `demo-${randomBytes(12).toString('hex')}`,
                workflowsDir: join(PROJECT_ROOT, 'test', 'fixtures', 'comfy'),
                timing: { durationMs: flags.jobDurationMs ?? 2_000, jitterMs: flags.jitterMs, coldStartMs: 0 },
                scaling: { minInstances: 0, maxInstances: 2, queueSize: 1 },
                // Jobs download their input images, as on RunComfy: a bad presigned URL fails the step.
                fetchInputUrls: true,
                allowHttpInputUrls: true,
              },
            }
          : {}),
      }),
      // webpack runs while the servers start instead of after.
      bundlePath ? Promise.resolve(bundlePath) : prebundleWorkflows(join(workDir, 'workflow-bundle.js')),
    ]);
    indicator.stop();
    if (stackResult.status === 'rejected') {
      // The servers' logs are in the work folder: keep it, unless a tool was simply missing.
      keepWorkDir = !(stackResult.reason instanceof MissingToolError);
      if (keepWorkDir) out.log(`server logs kept in ${workDir}`);
      throw stackResult.reason;
    }
    stack = stackResult.value;
    if (bundleResult.status === 'rejected') throw bundleResult.reason;
    out.log(`${starting ? `${starting} ready` : 'ready'} in ${formatSeconds(Date.now() - startedMs)}`);
    checkInterrupted();
    for (const [stepId, bytes] of await tuneEmulator(stack, registry, flags, out)) out.outputBytesPerFile.set(stepId, bytes);

    const temporalAddress = stack.temporal?.address ?? env.TEMPORAL_ADDRESS!;
    const temporalAuth = { ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}), ...(env.TEMPORAL_TLS !== undefined ? { tls: env.TEMPORAL_TLS } : {}) };
    const storeConfig = stack.s3
      ? { endpoint: stack.s3.endpoint, bucket: stack.s3.bucket, accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey, region: stack.s3.region, forcePathStyle: true }
      : {
          endpoint: env.R2_ENDPOINT!,
          bucket: env.R2_BUCKET!,
          accessKeyId: env.R2_ACCESS_KEY_ID!,
          secretAccessKey: env.R2_SECRET_ACCESS_KEY!,
          ...(env.R2_REGION ? { region: env.R2_REGION } : {}),
          ...(env.R2_FORCE_PATH_STYLE !== undefined ? { forcePathStyle: env.R2_FORCE_PATH_STYLE } : {}),
        };
    const runcomfy = stack.emulator
      ? { baseUrl: stack.emulator.url, token: stack.emulator.token }
      : { baseUrl: env.RUNCOMFY_BASE_URL ?? 'https://api.runcomfy.net', token: env.RUNCOMFY_TOKEN!, ...(env.RUNCOMFY_INFERENCE_API_VERSION ? { inferenceApiVersion: env.RUNCOMFY_INFERENCE_API_VERSION } : {}) };
    const plainConfig = inProcessWorkerConfig(
      { temporal: { address: temporalAddress, namespace, taskQueue, ...temporalAuth }, runcomfy, store: storeConfig, registryPath, workflowBundlePath: bundleResult.value },
      { pollInitialIntervalMs: flags.pollIntervalMs, pollMaxIntervalMs: Math.max(flags.pollIntervalMs, 2_000), shutdownGraceMs: 5_000 },
    );
    const config = { ...plainConfig, payloadKeys: { keys: encryption.keys } };
    worker = await startInProcessWorker({ config, registry, heartbeatThrottleMs: 250 });
    // A worker that stops on its own (a fatal error) would leave the pipeline waiting forever.
    const workerStopped = new AbortController();
    let workerError: unknown;
    worker.done.then(
      () => workerStopped.abort(),
      (error: unknown) => {
        workerError = error;
        workerStopped.abort();
      },
    );
    client = await PipelineClient.connect({ address: temporalAddress, namespace, taskQueue, registry, store: storeConfig, presignTtlSeconds: PRESIGN_TTL_SECONDS, payloadCodec: encryption.codec, ...temporalAuth });
    checkInterrupted();

    const uploaded = await client.uploadInput({ bytes: face.bytes }, { key: `inputs/${flags.pipelineId}/face${face.extension}`, contentType: face.contentType });
    out.log(`face image stored as ${uploaded.key} (${formatBytes(uploaded.bytes)})`);

    const spec = defaultPipelineSpec({ pipelineId: flags.pipelineId, prompt: flags.prompt, faceImageUrl: uploaded.ref }, registry);
    const started = await client.start(spec);
    if (started.alreadyStarted) out.log(`pipeline ${flags.pipelineId} was already started with this spec: following it`);
    const webUiPath = `/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(started.workflowId)}/${encodeURIComponent(started.runId)}/history`;
    const webUiUrl = stack.temporal?.workflowUrl(started.workflowId, started.runId) ?? (env.TEMPORAL_UI_URL ? realWorkflowUrl(env.TEMPORAL_UI_URL, webUiPath) : undefined);
    report = { ...report, workflowId: started.workflowId, runId: started.runId, webUiUrl: webUiUrl ?? null };
    out.log(`started ${started.workflowId}${webUiUrl ? `\n  Web UI: ${webUiUrl}` : ''}`);
    for (const line of encryption.describe({ temporalAddress, namespace, workflowId: started.workflowId, uiUrl: stack.temporal?.uiUrl })) out.log(line);

    const final = await followPipeline(client, out, flags, interrupted.signal, workerStopped.signal);
    if (!final || final.runStatus === 'RUNNING' || !FINAL_PIPELINE_STATUSES.has(final.status)) {
      const why = interrupted.signal.aborted ? 'interrupted' : workerStopped.signal.aborted ? 'worker-stopped' : 'timed-out';
      report = { ...toReport(final, report), status: why };
      if (interrupted.signal.aborted) throw new InterruptedError('interrupted');
      if (workerStopped.signal.aborted) throw new Error('the in-process worker stopped before the pipeline ended', { cause: workerError });
      throw new Error(`the pipeline did not finish within ${formatSeconds(flags.timeoutMs)} (--timeout); it is still ${final?.status ?? 'starting'}`);
    }
    report = toReport(final, report);
    exitCode = final.status === 'succeeded' ? 0 : interrupted.signal.aborted ? 130 : 1;

    await printOutputs(out, final, client);
    if (webUiUrl) out.print(`\nWeb UI: ${webUiUrl}`);
    if (final.status === 'succeeded') {
      out.print(`\npipeline succeeded in ${formatSeconds(Date.parse(final.finishedAt ?? new Date().toISOString()) - Date.parse(final.startedAt))}`);
    } else {
      const failedStep = final.steps.find((s) => s.id === final.failedStepId) ?? final.steps.find((s) => s.error);
      const why = final.failure?.message ?? (failedStep?.error ? `step "${failedStep.id}" ${failedStep.error.type}: ${failedStep.error.message}` : final.cancelReason);
      report = { ...report, error: why ?? final.status };
      out.print(`\npipeline ${final.status}${why ? `: ${why}` : ''}`);
    }

    if (flags.keep && !interrupted.signal.aborted) {
      const access = stackAccess(stack, { temporalAddress, namespace, taskQueue, store: storeConfig });
      report = { ...report, stack: access.json };
      out.print(access.text);
      emitJson(flags, report);
      await new Promise<void>((resolveWait) => interrupted.signal.addEventListener('abort', () => resolveWait(), { once: true }));
      // Ctrl-C is how a kept stack ends: the pipeline's outcome still decides the exit code.
      return await finish(exitCode);
    }
  } catch (error) {
    out.endBlock();
    if (error instanceof InterruptedError) {
      exitCode = 130;
      report = { ...report, status: 'interrupted', error: 'interrupted (Ctrl-C)' };
      progressStream.write('\ninterrupted (Ctrl-C)\n');
    } else {
      exitCode = isUserError(error) ? 2 : 1;
      const message = describeError(error);
      report = { ...report, error: message };
      progressStream.write(`\ndemo failed: ${message}\n`);
    }
  }
  emitJson(flags, report);
  return await finish(exitCode);

  async function finish(code: number): Promise<number> {
    await shutdown();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    return code;
  }
}

let jsonEmitted = false;
/** Writes the one JSON document of --json, once. */
function emitJson(flags: DemoFlags, report: DemoReport): void {
  if (!flags.json || jsonEmitted) return;
  jsonEmitted = true;
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

/**
 * Watches until the pipeline ends and returns its last status (still running after a timeout, or
 * when it did not stop within CANCEL_WAIT_MS of Ctrl-C). After Ctrl-C it asks the pipeline to
 * cancel its jobs and keeps watching it do so.
 */
async function followPipeline(
  client: PipelineClient,
  out: ProgressOutput,
  flags: DemoFlags,
  interrupted: AbortSignal,
  workerStopped: AbortSignal,
): Promise<PipelineStatusView | undefined> {
  const watchStop = new AbortController();
  const onWorkerStopped = (): void => watchStop.abort();
  if (workerStopped.aborted) watchStop.abort();
  else workerStopped.addEventListener('abort', onWorkerStopped, { once: true });
  const deadline = setTimeout(() => watchStop.abort(), flags.timeoutMs);
  let cancelDeadline: NodeJS.Timeout | undefined;
  const onInterrupt = (): void => {
    // Paid jobs must not outlive the demo: cancel them, keep what is in the bucket.
    client.cancel(flags.pipelineId, 'the demo was interrupted (Ctrl-C)', 'demo').catch((error: unknown) => out.log(`could not cancel the pipeline: ${describeError(error)}`));
    cancelDeadline = setTimeout(() => watchStop.abort(), CANCEL_WAIT_MS);
  };
  if (interrupted.aborted) onInterrupt();
  else interrupted.addEventListener('abort', onInterrupt, { once: true });
  let last: PipelineStatusView | undefined;
  try {
    for await (const view of client.watch(flags.pipelineId, { intervalMs: Math.min(flags.pollIntervalMs, 250), signal: watchStop.signal })) {
      last = view;
      out.update(view);
    }
  } finally {
    clearTimeout(deadline);
    clearTimeout(cancelDeadline);
    interrupted.removeEventListener('abort', onInterrupt);
    workerStopped.removeEventListener('abort', onWorkerStopped);
    out.endBlock();
  }
  return last;
}

async function printOutputs(out: ProgressOutput, final: PipelineStatusView, client: PipelineClient): Promise<void> {
  const rows = final.steps.flatMap((step) => step.outputs.map((output) => ({ step, output })));
  if (rows.length === 0) return;
  out.print('\nOutputs (links valid 24 h):');
  for (const { step, output } of rows) {
    const link = await client.presignOutput(output.key).catch((error: unknown) => `(no link: ${describeError(error)})`);
    out.print(
      [`  ${step.id.padEnd(9)} ${output.key}`, `            ${output.contentType}, ${formatBytes(output.bytes)} (${output.bytes} bytes), sha256 ${output.sha256}`, `            ${link}`].join('\n'),
    );
  }
}

function stackAccess(
  stack: LocalStack,
  p: { temporalAddress: string; namespace: string; taskQueue: string; store: { endpoint: string; bucket: string } },
): { text: string; json: Record<string, unknown> } {
  const lines = ['', 'The stack keeps running (--keep); the worker keeps polling. Press Ctrl-C to stop everything.', ''];
  lines.push(`  Temporal      ${p.temporalAddress}  namespace ${p.namespace}  task queue ${p.taskQueue}${stack.temporal ? '' : '  (real)'}`);
  if (stack.temporal?.uiUrl) lines.push(`  Web UI        ${stack.temporal.uiUrl}`);
  if (stack.s3) {
    lines.push(`  S3            ${stack.s3.endpoint}  bucket ${stack.s3.bucket}  (path-style)`);
    lines.push(`                access key ${stack.s3.accessKeyId}  secret key ${stack.s3.secretAccessKey}  (local only)`);
  } else {
    lines.push(`  R2            ${p.store.endpoint}  bucket ${p.store.bucket}  (real)`);
  }
  if (stack.emulator) lines.push(`  RunComfy      ${stack.emulator.url}  token ${stack.emulator.token}  (emulator; admin API ${stack.emulator.url}/__admin)`);
  else lines.push('  RunComfy      real service');
  // Local credentials are test values on loopback; real secrets are never printed.
  const cliEnv = [
    `TEMPORAL_ADDRESS=${p.temporalAddress}`,
    `TEMPORAL_NAMESPACE=${p.namespace}`,
    `TEMPORAL_TASK_QUEUE=${p.taskQueue}`,
    ...(stack.temporal?.uiUrl ? [`TEMPORAL_UI_URL=${stack.temporal.uiUrl}`] : []),
    ...(stack.s3 ? [`R2_ENDPOINT=${stack.s3.endpoint}`, `R2_BUCKET=${stack.s3.bucket}`, `R2_ACCESS_KEY_ID=${stack.s3.accessKeyId}`, `R2_SECRET_ACCESS_KEY=${stack.s3.secretAccessKey}`] : []),
  ];
  lines.push('', '  More pipelines run on it through the operator CLI (docs/cli.md), from another terminal:', `    ${cliEnv.join(' \\\n    ')} \\\n    npm run cli -- list`);
  return {
    text: lines.join('\n'),
    json: {
      temporal: { address: p.temporalAddress, namespace: p.namespace, taskQueue: p.taskQueue, uiUrl: stack.temporal?.uiUrl ?? null, local: stack.temporal !== undefined },
      s3: stack.s3
        ? { endpoint: stack.s3.endpoint, bucket: stack.s3.bucket, region: stack.s3.region, accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey, local: true }
        : { endpoint: p.store.endpoint, bucket: p.store.bucket, local: false },
      runcomfy: stack.emulator ? { url: stack.emulator.url, token: stack.emulator.token, local: true } : { local: false },
    },
  };
}

const code = await main();
// gRPC channels and sockets can linger for seconds after close; the demo is done.
process.exit(code);
