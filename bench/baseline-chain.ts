/**
 * The baseline the pipeline is measured against: a plain script that runs the same chains with the
 * same RunComfy client and the same object store, but no Temporal. For each step it submits the job,
 * reads its status at a FIXED interval until it ends, reads the result, copies every output file to
 * S3 (same keys, same ObjectStore), presigns the chosen output for the next step, and goes on.
 * No retries, no durability, no validation against the deployment graph: the least work that gets
 * the same outputs stored.
 *
 *   node --import tsx bench/baseline-chain.ts <input.json> <output.json>
 *
 * The input is a {@link BaselineInput} written by bench/run.ts; the output a {@link BaselineOutput}.
 * After its warm-up chains it creates `<output>.ready` and waits for the driver to create `<output>.go`.
 * All chains of the input run at once, as the pipelines they are compared with do.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { inputReferenceKey } from '../src/pipeline/param-values.js';
import type { ParamValue } from '../src/pipeline/step-kinds.js';
import { loadRegistryFileSync } from '../src/pipeline/registry-file.js';
import { buildOverrides, resolveStepParams } from '../src/pipeline/overrides.js';
import { registryEntry, type DeploymentRegistry } from '../src/pipeline/registry.js';
import type { PipelineSpec } from '../src/pipeline/spec.js';
import { defaultStepOutputSelector, pickStepOutput } from '../src/pipeline/step-kinds.js';
import { RunComfyClient } from '../src/runcomfy/client.js';
import { extractOutputFiles } from '../src/runcomfy/outputs.js';
import { ObjectStore } from '../src/storage/object-store.js';
import { deterministicOutputKey } from '../src/storage/output-key.js';
import { createObjectStoreClient } from '../src/storage/s3-client.js';
import type { ChainTiming } from './chain-analysis.js';

/** What the driver hands the baseline. */
export interface BaselineInput {
  runcomfy: { baseUrl: string; token: string };
  s3: { endpoint: string; bucket: string; accessKeyId: string; secretAccessKey: string; region: string };
  registryPath: string;
  specs: PipelineSpec[];
  /** Run first and not reported: they load code paths and open connections, as a long-running worker has. */
  warmupSpecs: PipelineSpec[];
  /** Fixed pause between status reads. */
  pollIntervalMs: number;
  partSizeBytes: number;
  queueSize: number;
  presignTtlSeconds: number;
}

/** What the baseline reports back. */
export interface BaselineOutput {
  chains: ChainTiming[];
  statusReads: number;
  errors: string[];
  /** CPU of this process while the chains ran. */
  cpuSeconds: number;
  wallSeconds: number;
  peakRssBytes: number;
}

interface StoredOutput {
  key: string;
  media: string;
  sourceUrl: string;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface BaselineDeps {
  input: BaselineInput;
  registry: DeploymentRegistry;
  runcomfy: RunComfyClient;
  store: ObjectStore;
  counters: { statusReads: number };
}

async function runChain(spec: PipelineSpec, deps: BaselineDeps): Promise<ChainTiming> {
  const { input, registry, runcomfy, store, counters } = deps;
  const startedAtMs = Date.now();
  const timing: ChainTiming = { pipelineId: spec.pipelineId, startedAtMs, closedAtMs: Number.NaN, succeeded: false, steps: [] };
  const outputsByStep = new Map<string, StoredOutput[]>();
  const signal = new AbortController().signal;
  // The default chain is listed in dependency order; each step's inputs are done before it starts.
  for (const step of spec.steps) {
    const entry = registryEntry(registry, step.deployment);
    if (!entry) throw new Error(`unknown deployment ${step.deployment}`);
    const inputUrls: Record<string, string> = {};
    for (const [param, source] of Object.entries(step.inputs ?? {})) {
      const chosen = pickStepOutput(outputsByStep.get(source.fromStep) ?? [], source.output ?? defaultStepOutputSelector, (o) => o.media);
      if (!chosen) throw new Error(`step ${step.id}: no output from ${source.fromStep}`);
      inputUrls[param] = await store.presignGet(chosen.key, { expiresInSeconds: input.presignTtlSeconds });
    }
    // Uploaded inputs are r2:// references, presigned at submit time as the submit activity does.
    const params: Record<string, ParamValue> = {};
    for (const [name, value] of Object.entries(step.params)) {
      const inputKey = typeof value === 'string' ? inputReferenceKey(value) : undefined;
      params[name] = inputKey === undefined ? value : await store.presignGet(inputKey, { expiresInSeconds: input.presignTtlSeconds });
    }
    const overrides = buildOverrides(entry, resolveStepParams({ ...step, params }, inputUrls), step.deployment);
    const { requestId } = await runcomfy.submit(entry.deploymentId, { overrides });
    for (;;) {
      const status = await runcomfy.getStatus(entry.deploymentId, requestId);
      counters.statusReads++;
      if (status.isTerminal) break;
      await sleep(input.pollIntervalMs);
    }
    const detectedAtMs = Date.now();
    const result = await runcomfy.getResult(entry.deploymentId, requestId);
    if (result.status !== 'succeeded') throw new Error(`step ${step.id}: job ${requestId} ended ${result.rawStatus}`);
    const saved = extractOutputFiles(result.outputs);
    const files = saved.length > 0 ? saved : extractOutputFiles(result.outputs, { includeTemp: true });
    const stored: StoredOutput[] = [];
    const usedKeys = new Set<string>();
    for (const [index, file] of files.entries()) {
      let key = deterministicOutputKey({ pipelineId: spec.pipelineId, stepId: step.id, nodeId: file.nodeId, filename: file.filename });
      if (usedKeys.has(key)) key = deterministicOutputKey({ pipelineId: spec.pipelineId, stepId: step.id, nodeId: file.nodeId, filename: `${index}-${file.filename}` });
      usedKeys.add(key);
      await store.persistFromUrl({ sourceUrl: file.url, key, signal });
      stored.push({ key, media: file.kind, sourceUrl: file.url });
    }
    outputsByStep.set(step.id, stored);
    timing.steps.push({ stepId: step.id, requestId, detectedAtMs, persistedAtMs: Date.now() });
  }
  timing.closedAtMs = Date.now();
  timing.succeeded = true;
  return timing;
}

async function main(): Promise<void> {
  const [inputPath, outputPath] = process.argv.slice(2);
  if (!inputPath || !outputPath) {
    console.error('usage: node --import tsx bench/baseline-chain.ts <input.json> <output.json>');
    process.exit(2);
  }
  const input = JSON.parse(readFileSync(inputPath, 'utf8')) as BaselineInput;
  const runcomfy = new RunComfyClient({ baseUrl: input.runcomfy.baseUrl, token: input.runcomfy.token });
  // The same client settings and store settings as the worker (src/worker/pipeline-worker.ts).
  const s3 = createObjectStoreClient({ ...input.s3, maxSockets: 64 });
  const store = new ObjectStore({ client: s3, bucket: input.s3.bucket, partSizeBytes: input.partSizeBytes, queueSize: input.queueSize, sourcePolicy: { allowLoopback: true, allowedHosts: [] } });
  const counters = { statusReads: 0 };
  const deps: BaselineDeps = { input, registry: loadRegistryFileSync(input.registryPath), runcomfy, store, counters };
  const errors: string[] = [];
  for (const spec of input.warmupSpecs) await runChain(spec, deps);
  counters.statusReads = 0;
  // Tell the driver the warm-up is over and wait for its go, so its counters and CPU windows
  // cover the measured chains only.
  writeFileSync(`${outputPath}.ready`, '');
  while (!existsSync(`${outputPath}.go`)) await sleep(5);
  const cpuBefore = process.cpuUsage();
  const wallStartedAt = performance.now();
  const chains = await Promise.all(
    input.specs.map((spec) =>
      runChain(spec, deps).catch((error: unknown): ChainTiming => {
        errors.push(`${spec.pipelineId}: ${error instanceof Error ? error.message : String(error)}`);
        return { pipelineId: spec.pipelineId, startedAtMs: Number.NaN, closedAtMs: Number.NaN, succeeded: false, steps: [] };
      }),
    ),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const output: BaselineOutput = {
    chains,
    statusReads: counters.statusReads,
    errors,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    wallSeconds: (performance.now() - wallStartedAt) / 1000,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
  writeFileSync(outputPath, JSON.stringify(output));
  await runcomfy.close();
  s3.destroy();
}

await main();
