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
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PipelineClient, type PipelineStatusView } from '../src/client/index.js';
import { formatBytes, formatDuration } from '../src/format.js';
import { FINAL_PIPELINE_STATUSES, ProgressOutput } from '../src/cli/progress.js';
import { parseEnv } from '../src/config.js';
import { DEFAULT_TASK_QUEUE, pipelineWorkflowId } from '../src/contract/pipeline-contract.js';
import {
  ensureLocalTools,
  inProcessWorkerConfig,
  installWorkerLogging,
  prebundleWorkflows,
  PROJECT_ROOT,
  startInProcessWorker,
  startLocalStack,
  type InProcessWorker,
  type LocalStack,
} from '../src/devstack/local-stack.js';
import { defaultPipelineSpec, validatePipelineSpec } from '../src/pipeline/index.js';
import { MissingToolError } from '../src/devstack/tool-paths.js';
import { getFreePort } from '../src/devstack/ports.js';
import { DEFAULT_WEBHOOK_PATH, type WebhookSettings } from '../src/webhooks/config.js';
import { loadRegistryFileSync } from '../src/pipeline/registry-file.js';
import { CANCEL_WAIT_MS, demoEnvSchema, PRESIGN_TTL_SECONDS, USAGE, UsageError, parseFlags, type DemoEnv, type DemoFlags } from './demo/options.js';
import { describeError, emitJson, InterruptedError, isUserError, printOutputs, readFaceImage, realWorkflowUrl, stackAccess, toReport, tuneEmulator } from './demo/report.js';

// ------------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let flags: DemoFlags;
  let env: DemoEnv;
  try {
    flags = parseFlags(process.argv.slice(2));
    if (flags.help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    env = parseEnv(demoEnvSchema, process.env);
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
    if (stopped.length > 0) out.log(`stopped ${stopped.join(', ')} in ${formatDuration(Date.now() - startedMs)}`);
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
    out.log(flags.noWorker ? `worker        none (--no-worker): start one with npm run worker, task queue ${taskQueue}` : `worker        local: in this process, task queue ${taskQueue}`);
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
        // A demo ended by SIGKILL leaves no folder behind either.
        removeWorkDirWhenOrphaned: true,
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
                // Webhooks to the worker's own receiver on loopback (RunComfy itself needs https).
                allowHttpWebhooks: true,
              },
            }
          : {}),
      }),
      // webpack runs while the servers start instead of after.
      bundlePath || flags.noWorker ? Promise.resolve(bundlePath ?? '') : prebundleWorkflows(join(workDir, 'workflow-bundle.js')),
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
    out.log(`${starting ? `${starting} ready` : 'ready'} in ${formatDuration(Date.now() - startedMs)}`);
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
    if (flags.noWorker) {
      const access = stackAccess(stack, { temporalAddress, namespace, taskQueue, store: storeConfig, workerless: true });
      report = { ...report, status: 'stack-only', stack: access.json };
      out.print(access.text);
      emitJson(flags, report);
      await new Promise<void>((resolveWait) => interrupted.signal.addEventListener('abort', () => resolveWait(), { once: true }));
      return await finish(0);
    }
    const plainConfig = inProcessWorkerConfig(
      { temporal: { address: temporalAddress, namespace, taskQueue, ...temporalAuth }, runcomfy, store: storeConfig, registryPath, workflowBundlePath: bundleResult.value },
      { pollInitialIntervalMs: flags.pollIntervalMs, pollMaxIntervalMs: Math.max(flags.pollIntervalMs, 2_000), shutdownGraceMs: 5_000 },
    );
    // On the local emulator, jobs announce their ends by webhook to a receiver inside the worker.
    const webhooks = local.emulator ? await demoWebhooks() : undefined;
    const config = { ...plainConfig, payloadKeys: { keys: encryption.keys }, ...(webhooks ? { webhooks } : {}) };
    if (webhooks) out.log(`webhooks on: jobs announce their ends to the worker's receiver at ${webhooks.publicUrl}`);
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
      throw new Error(`the pipeline did not finish within ${formatDuration(flags.timeoutMs)} (--timeout); it is still ${final?.status ?? 'starting'}`);
    }
    report = toReport(final, report);
    exitCode = final.status === 'succeeded' ? 0 : interrupted.signal.aborted ? 130 : 1;

    await printOutputs(out, final, client);
    if (webUiUrl) out.print(`\nWeb UI: ${webUiUrl}`);
    if (final.status === 'succeeded') {
      out.print(`\npipeline succeeded in ${formatDuration(Date.parse(final.finishedAt ?? new Date().toISOString()) - Date.parse(final.startedAt))}`);
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

const code = await main();
// gRPC channels and sockets can linger for seconds after close; the demo is done.
process.exit(code);

/** Webhooks for a demo on the local emulator: a receiver in the worker, on a free loopback port. */
async function demoWebhooks(): Promise<WebhookSettings> {
  const port = await getFreePort();
  return {
    publicUrl: `http://127.0.0.1:${port}${DEFAULT_WEBHOOK_PATH}`,
    secrets: [randomBytes(32).toString('base64url')],
    path: DEFAULT_WEBHOOK_PATH,
    maxBodyBytes: 1024 * 1024,
    backstopIntervalMs: 10_000,
    port,
    host: '127.0.0.1',
  };
}
