/** What the demo reports and how: the face image it stores, emulator timing, outputs, the JSON document, errors. */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { InvalidPipelineSpecError, PipelineAlreadyStartedError, type PipelineClient, type PipelineStatusView } from '../../src/client/index.js';
import { formatBytes } from '../../src/format.js';
import type { ProgressOutput } from '../../src/cli/progress.js';
import { ConfigError } from '../../src/config.js';
import { sampleFacePng, type LocalStack } from '../../src/devstack/local-stack.js';
import { MissingToolError } from '../../src/devstack/tool-paths.js';
import { defaultChainKinds, defaultStepIds, DeploymentRegistryError, registryDefaultKey, type DeploymentRegistry } from '../../src/pipeline/index.js';
import { DEFAULT_JOB_DURATION_MS, DEFAULT_VIDEO_OUTPUT_BYTES, UsageError, type DemoFlags } from './options.js';
/** Ctrl-C (or SIGTERM) during a phase that must end early. */
export class InterruptedError extends Error {
  override readonly name = 'InterruptedError';
}

export interface OutputReport {
  key: string;
  bytes: number;
  sha256: string;
  contentType: string;
}

/** The one JSON document of --json. */
export interface DemoReport {
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

export function readFaceImage(path: string | undefined): { bytes: Buffer; contentType: string; extension: string } {
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
export async function tuneEmulator(stack: LocalStack, registry: DeploymentRegistry, flags: DemoFlags, out: ProgressOutput): Promise<Map<string, number>> {
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

export function toReport(view: PipelineStatusView | undefined, base: Omit<DemoReport, 'steps' | 'status'> & { status?: string }): DemoReport {
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
export function isUserError(error: unknown): boolean {
  return (
    error instanceof UsageError ||
    error instanceof ConfigError ||
    error instanceof DeploymentRegistryError ||
    error instanceof InvalidPipelineSpecError ||
    error instanceof PipelineAlreadyStartedError
  );
}

export function describeError(error: unknown): string {
  if (error instanceof MissingToolError || isUserError(error)) return (error as Error).message;
  if (error instanceof Error && error.cause instanceof MissingToolError) return error.cause.message;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `\n  cause: ${error.cause.message}` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

export function realWorkflowUrl(base: string, webUiPath: string): string {
  return `${base.replace(/\/+$/, '')}${webUiPath}`;
}


let jsonEmitted = false;

/** Writes the one JSON document of --json, once. */
export function emitJson(flags: DemoFlags, report: DemoReport): void {
  if (!flags.json || jsonEmitted) return;
  jsonEmitted = true;
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

/**
 * Watches until the pipeline ends and returns its last status (still running after a timeout, or
 * when it did not stop within CANCEL_WAIT_MS of Ctrl-C). After Ctrl-C it asks the pipeline to
 * cancel its jobs and keeps watching it do so.
 */
export async function printOutputs(out: ProgressOutput, final: PipelineStatusView, client: PipelineClient): Promise<void> {
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

export function stackAccess(
  stack: LocalStack,
  p: { temporalAddress: string; namespace: string; taskQueue: string; store: { endpoint: string; bucket: string }; workerless?: boolean },
): { text: string; json: Record<string, unknown> } {
  const lines = ['', `The stack keeps running (--keep)${p.workerless ? ' with no worker (--no-worker)' : '; the worker keeps polling'}. Press Ctrl-C to stop everything.`, ''];
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
  // The worker also needs RunComfy (the emulator's token is a local test value, never a real one), and
  // may fetch the emulator's output files on loopback, which production refuses.
  const workerEnv = p.workerless ? [...cliEnv, ...(stack.s3 ? ['R2_FORCE_PATH_STYLE=true'] : []), ...(stack.emulator ? [`RUNCOMFY_BASE_URL=${stack.emulator.url}`, `RUNCOMFY_TOKEN=${stack.emulator.token}`, 'OUTPUT_ALLOW_LOOPBACK=true'] : [])] : [];
  if (p.workerless) lines.push('', '  Start a worker for it from another terminal:', `    ${workerEnv.join(' \\\n    ')} \\\n    npm run worker`);
  const asMap = (env: string[]): Record<string, string> => Object.fromEntries(env.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  return {
    text: lines.join('\n'),
    json: {
      ...(p.workerless ? { workerEnv: asMap(workerEnv), cliEnv: asMap(cliEnv) } : {}),
      temporal: { address: p.temporalAddress, namespace: p.namespace, taskQueue: p.taskQueue, uiUrl: stack.temporal?.uiUrl ?? null, local: stack.temporal !== undefined },
      s3: stack.s3
        ? { endpoint: stack.s3.endpoint, bucket: stack.s3.bucket, region: stack.s3.region, accessKeyId: stack.s3.accessKeyId, secretAccessKey: stack.s3.secretAccessKey, local: true }
        : { endpoint: p.store.endpoint, bucket: p.store.bucket, local: false },
      runcomfy: stack.emulator ? { url: stack.emulator.url, token: stack.emulator.token, local: true } : { local: false },
    },
  };
}
