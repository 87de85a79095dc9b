import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodePngRgb } from '../../src/emulator/media/png.js';
import { EMULATOR_TOKEN, REGISTRY_PATH, eventually, startPipelineStack, uniqueName } from '../support/pipeline-stack.js';

const stack = await startPipelineStack({ emulator: { timing: { durationMs: 100, jitterMs: 0, coldStartMs: 0 } } });
const root = fileURLToPath(new URL('../..', import.meta.url));
const cliPath = join(root, 'src/cli/main.ts');
const workDir = await mkdtemp(join(tmpdir(), 'rcp-cli-'));
after(() => rm(workDir, { recursive: true, force: true }));

const UI_URL = 'http://127.0.0.1:8233';
const cliEnv: Record<string, string> = {
  PATH: process.env['PATH'] ?? '',
  HOME: process.env['HOME'] ?? workDir,
  TEMPORAL_ADDRESS: stack.temporal.address,
  TEMPORAL_NAMESPACE: stack.temporal.namespace,
  TEMPORAL_TASK_QUEUE: stack.taskQueue,
  TEMPORAL_UI_URL: UI_URL,
  R2_ENDPOINT: stack.s3.endpoint,
  R2_BUCKET: stack.s3.bucket,
  R2_ACCESS_KEY_ID: stack.s3.accessKeyId,
  R2_SECRET_ACCESS_KEY: stack.s3.secretAccessKey,
  RUNCOMFY_BASE_URL: stack.emulator.url,
  RUNCOMFY_TOKEN: EMULATOR_TOKEN,
  DEPLOYMENT_REGISTRY_PATH: REGISTRY_PATH,
};

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stdout parsed as the one JSON document `--json` promises. */
  json: Record<string, unknown>;
}

const everyOutput: string[] = [];

function runCli(args: readonly string[], options: { env?: Record<string, string>; command?: readonly string[]; cwd?: string } = {}): Promise<CliRun> {
  const command = options.command ?? [process.execPath, '--import', 'tsx', cliPath];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, [...command.slice(1), ...args], { cwd: options.cwd ?? root, env: { ...cliEnv, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      everyOutput.push(stdout, stderr);
      let json: Record<string, unknown> = {};
      if (args.includes('--json')) {
        try {
          json = JSON.parse(stdout) as Record<string, unknown>;
        } catch {
          reject(new Error(`rcp ${args.join(' ')} did not print one JSON document (exit ${code}):\n${stdout}\n${stderr}`));
          return;
        }
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

function errorOf(run: CliRun): Record<string, unknown> {
  const error = run.json['error'];
  assert.ok(error && typeof error === 'object', `an error document: ${run.stdout}`);
  return error as Record<string, unknown>;
}

const t2iDeploymentId = stack.registry.deployments['flux-t2i']!.deploymentId;
const faceswapDeploymentId = stack.registry.deployments['reactor-faceswap']!.deploymentId;
const png = encodePngRgb(8, 8, Buffer.alloc(8 * 8 * 3, 90));
const facePath = join(workDir, 'face.png');
await writeFile(facePath, png);

async function writeSpec(name: string, spec: unknown): Promise<string> {
  const path = join(workDir, name);
  await writeFile(path, JSON.stringify(spec));
  return path;
}

function imageSpec(pipelineId: string, prompt: string) {
  return { pipelineId, steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt } }] };
}

test('start (default chain, local face image) → watch → result → status, end to end with --json', async () => {
  const pipelineId = uniqueName('cli-chain');
  const startArgs = ['start', '--id', pipelineId, '--prompt', 'a lighthouse at dusk', '--face-image', facePath, '--seed', '42', '--json'];
  const started = await runCli(startArgs);
  assert.equal(started.code, 0, started.stderr);
  assert.equal(started.json['pipelineId'], pipelineId);
  assert.equal(started.json['alreadyStarted'], false);
  assert.match(String(started.json['webUiUrl']), new RegExp(`^${UI_URL}/namespaces/default/workflows/pipeline-${pipelineId}/`));

  // The same command again: the face lands on the same key, so it is the same spec.
  const again = await runCli(startArgs);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.json['alreadyStarted'], true);
  assert.equal(again.json['runId'], started.json['runId']);

  // Not a TTY: plain progress lines, one per change.
  const watched = await runCli(['watch', pipelineId, '--interval-ms', '50']);
  assert.equal(watched.code, 0, watched.stderr);
  const lines = watched.stdout.trim().split('\n');
  assert.ok(lines.every((line) => /^\d{4}-\d{2}-\d{2}T\S+Z /.test(line)), watched.stdout);
  assert.ok(lines.some((line) => / i2v\s+succeeded/.test(line)), watched.stdout);
  assert.ok(lines.some((line) => /pipeline .*: succeeded \(Temporal COMPLETED\)/.test(line)), watched.stdout);
  assert.ok(!watched.stdout.includes('\x1b['), 'no terminal control sequences when not a TTY');

  const result = await runCli(['result', pipelineId, '--json']);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.json['status'], 'succeeded');
  const outputs = result.json['outputs'] as { stepId: string; key: string; bytes: number; sha256: string; url: string }[];
  assert.deepEqual([...new Set(outputs.map((o) => o.stepId))], ['t2i', 'faceswap', 'upscale', 'i2v']);
  const video = outputs.find((o) => o.stepId === 'i2v')!;
  assert.ok(video.key.startsWith(`pipelines/${pipelineId}/i2v/`));
  const download = Buffer.from(await (await fetch(video.url)).arrayBuffer());
  assert.equal(download.length, video.bytes);
  assert.equal(createHash('sha256').update(download).digest('hex'), video.sha256, 'the link serves the reported bytes');

  // The emulator received the uploaded face through a presigned link into the bucket.
  const faceswapJob = await stack.emulator.admin.job((result.json['steps'] as { requestId: string }[])[1]!.requestId);
  assert.match(JSON.stringify(faceswapJob.overrides), /inputs\/[0-9a-f]{64}\/face\.png/);

  const status = await runCli(['status', pipelineId, '--json']);
  assert.equal(status.code, 0);
  assert.equal(status.json['status'], 'succeeded');
  assert.equal(status.json['runStatus'], 'COMPLETED');

  const listed = await eventually(async () => {
    const run = await runCli(['list', '--status', 'succeeded', '--since', '10m', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const ids = (run.json['pipelines'] as { pipelineId: string }[]).map((p) => p.pipelineId);
    return ids.includes(pipelineId) ? run : undefined;
  }, { what: 'the pipeline in the listing' });
  assert.ok((listed.json['pipelines'] as { status: string }[]).every((p) => p.status === 'succeeded'));
  const human = await runCli(['status', pipelineId]);
  assert.match(human.stdout, new RegExp(`pipeline ${pipelineId}: succeeded \\(4/4 steps done`));
});

test('usage errors, invalid specs, unknown ids and conflicting specs have their own exit codes', async () => {
  const pipelineId = uniqueName('cli-conflict');
  const [badSpec, unknown, unknownResult, badFlag, notJson, badEnv, first] = await Promise.all([
    writeSpec('bad.json', { pipelineId, steps: [{ id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: {} }] }).then((path) => runCli(['start', '--spec', path, '--json'])),
    runCli(['status', uniqueName('nope'), '--json']),
    runCli(['result', uniqueName('nope'), '--json']),
    runCli(['list', '--colour', '--json']),
    writeFile(join(workDir, 'broken.json'), '{"pipelineId": ').then(() => runCli(['start', '--spec', join(workDir, 'broken.json'), '--json'])),
    runCli(['list', '--json'], { env: { TEMPORAL_TLS: 'maybe' } }),
    writeSpec('first.json', imageSpec(pipelineId, 'one')).then((path) => runCli(['start', '--spec', path, '--json'])),
  ]);
  assert.equal(badSpec.code, 2);
  assert.equal(errorOf(badSpec)['code'], 'PIPELINE_SPEC_INVALID');
  assert.deepEqual((errorOf(badSpec)['issues'] as { path: string }[]).map((i) => i.path), ['steps[0].params']);
  assert.equal(unknown.code, 3);
  assert.equal(errorOf(unknown)['code'], 'PIPELINE_NOT_FOUND');
  assert.equal(unknownResult.code, 3);
  assert.equal(badFlag.code, 2);
  assert.equal(errorOf(badFlag)['code'], 'USAGE');
  assert.equal(notJson.code, 2);
  assert.match(String(errorOf(notJson)['message']), /not valid JSON/);
  assert.equal(badEnv.code, 2);
  assert.deepEqual(errorOf(badEnv)['problems'], ['TEMPORAL_TLS: expected true or false']);
  assert.equal(first.code, 0, first.stderr);

  const conflict = await runCli(['start', '--spec', await writeSpec('second.json', imageSpec(pipelineId, 'two')), '--json']);
  assert.equal(conflict.code, 5);
  assert.equal(errorOf(conflict)['code'], 'PIPELINE_ALREADY_STARTED');
  assert.equal(errorOf(conflict)['pipelineId'], pipelineId);

  // A spec too big for history names the remedy.
  const huge = { pipelineId: uniqueName('cli-huge'), steps: [{ id: 'swap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl: `data:image/png;base64,${'A'.repeat(70_000)}`, targetImageUrl: 'https://example.com/t.png' } }] };
  const tooBig = await runCli(['start', '--spec', await writeSpec('huge.json', huge), '--json']);
  assert.equal(tooBig.code, 2);
  assert.match(String(errorOf(tooBig)['message']), /uploadInput\(\) \(CLI: pass a local file path\)/);
});

test('cancel → result and watch exit 4 with the kept outputs; a failed job → exit 1 with step and request id', async () => {
  await stack.emulator.admin.updateDeploymentConfig(faceswapDeploymentId, { timing: { durationMs: 60_000 } });
  const cancelledId = uniqueName('cli-cancel');
  const failedId = uniqueName('cli-failed');
  try {
    const spec = {
      pipelineId: cancelledId,
      steps: [
        { id: 't2i', kind: 't2i', deployment: 'flux-t2i', params: { prompt: 'a cat' } },
        { id: 'swap', kind: 'faceswap', deployment: 'reactor-faceswap', params: { faceImageUrl: 'data:image/png;base64,' + png.toString('base64') }, inputs: { targetImageUrl: { fromStep: 't2i' } } },
      ],
    };
    assert.equal((await runCli(['start', '--spec', await writeSpec('cancel.json', spec), '--json'])).code, 0);
    await eventually(async () => {
      const status = await runCli(['status', cancelledId, '--json']);
      const steps = status.json['steps'] as { state: string; requestId?: string }[];
      return steps[1]?.requestId !== undefined ? true : undefined;
    }, { what: 'the slow step to be submitted', intervalMs: 100 });

    const missingReason = await runCli(['cancel', cancelledId, '--json']);
    assert.equal(missingReason.code, 2);
    const cancelled = await runCli(['cancel', cancelledId, '--reason', 'operator test', '--requested-by', 'cli-test', '--json']);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(cancelled.json['cancelRequested'], true);

    await stack.emulator.admin.addFault({ kind: 'job_failure', deploymentId: t2iDeploymentId, count: 1, failure: { kind: 'permanent', message: 'out of prompts' } });
    assert.equal((await runCli(['start', '--spec', await writeSpec('fail.json', imageSpec(failedId, 'doomed')), '--json'])).code, 0);

    const [result, watched, failed] = await Promise.all([
      runCli(['result', cancelledId, '--json']),
      runCli(['watch', cancelledId, '--json', '--interval-ms', '50']),
      runCli(['result', failedId, '--json']),
    ]);
    assert.equal(result.code, 4, result.stdout);
    const error = errorOf(result);
    assert.equal(error['code'], 'PIPELINE_CANCELLED');
    assert.equal(error['reason'], 'operator test');
    const kept = error['outputs'] as { stepId: string; key: string; url: string }[];
    assert.ok(kept.length > 0 && kept.every((o) => o.stepId === 't2i' && o.url.includes('X-Amz-Signature=')));
    assert.equal(watched.code, 4);
    assert.equal(watched.json['status'], 'cancelled');
    // The operator sees whether the billing stopped.
    const shown = await runCli(['status', cancelledId]);
    assert.match(shown.stdout, /swap\s+cancelled.*RunComfy cancel confirmed/);

    assert.equal(failed.code, 1, failed.stdout);
    const failure = errorOf(failed);
    assert.equal(failure['code'], 'PIPELINE_FAILED');
    assert.equal(failure['stepId'], 't2i');
    assert.equal(failure['failureType'], 'RunComfyJobFailed');
    assert.match(String(failure['remoteError']), /out of prompts/);
    assert.equal((await stack.emulator.admin.job(String(failure['requestId']))).outcome, 'failed');

    // Cancelling an ended pipeline is not an error, and says so.
    const late = await runCli(['cancel', failedId, '--reason', 'too late', '--json']);
    assert.equal(late.code, 0);
    assert.deepEqual(late.json, { pipelineId: failedId, cancelRequested: false, status: 'failed', runStatus: 'FAILED' });
  } finally {
    await stack.emulator.admin.updateDeploymentConfig(faceswapDeploymentId, { timing: { durationMs: 100 } });
  }
});

test('deployments list and inspect read RunComfy and check the registry bindings', async () => {
  const [listed, inspected, byId, unknown] = await Promise.all([
    runCli(['deployments', 'list', '--json']),
    runCli(['deployments', 'inspect', 'flux-t2i', '--json']),
    runCli(['deployments', 'inspect', faceswapDeploymentId]),
    runCli(['deployments', 'inspect', 'no-such-deployment-id', '--json']),
  ]);
  assert.equal(listed.code, 0, listed.stderr);
  const deployments = listed.json['deployments'] as { id: string; registryKeys: string[] }[];
  assert.deepEqual(deployments.find((d) => d.id === t2iDeploymentId)?.registryKeys, ['flux-t2i']);

  assert.equal(inspected.code, 0, inspected.stderr);
  assert.equal(inspected.json['ok'], true);
  assert.deepEqual(inspected.json['registryKeys'], ['flux-t2i']);
  const nodes = inspected.json['nodes'] as { nodeId: string; classType?: string; overridableInputs: Record<string, unknown>; linkedInputs: string[]; boundParams: Record<string, string[]> }[];
  const promptNode = nodes.find((n) => n.nodeId === '6')!;
  assert.equal(promptNode.classType, 'CLIPTextEncode');
  assert.equal(typeof promptNode.overridableInputs['text'], 'string');
  assert.ok(promptNode.linkedInputs.includes('clip'), 'links are listed apart: overriding them would cut the graph');
  assert.deepEqual(promptNode.boundParams, { text: ['prompt'] });
  assert.deepEqual((inspected.json['bindingChecks'] as { registryKey: string; problems: unknown[] }[]).map((c) => [c.registryKey, c.problems.length]), [['flux-t2i', 0]]);

  assert.equal(byId.code, 0, byId.stderr);
  assert.match(byId.stdout, /bindings of "reactor-faceswap": ok/);
  assert.match(byId.stdout, /image = .*← faceImageUrl/);

  assert.equal(unknown.code, 3, unknown.stdout);

  // A registry whose binding points at a linked input is reported, exit 1.
  const registry = structuredClone(stack.registry);
  registry.deployments['flux-t2i']!.bindings['prompt'] = { nodeId: '6', inputKey: 'clip' };
  const registryPath = join(workDir, 'broken-registry.json');
  await writeFile(registryPath, JSON.stringify(registry));
  const broken = await runCli(['deployments', 'inspect', 'flux-t2i', '--json'], { env: { DEPLOYMENT_REGISTRY_PATH: registryPath } });
  assert.equal(broken.code, 1);
  const problems = (broken.json['bindingChecks'] as { problems: { code: string; param: string }[] }[])[0]!.problems;
  assert.deepEqual(problems.map((p) => [p.code, p.param]), [['linked-input', 'prompt']]);

  const noToken = await runCli(['deployments', 'list', '--json'], { env: { RUNCOMFY_TOKEN: '' } });
  assert.equal(noToken.code, 2);
});

test('the rcp launcher runs the CLI from any directory; --help documents the exit codes', async () => {
  const help = await runCli(['--help'], { command: [process.execPath, join(root, 'bin/rcp.js')], cwd: workDir });
  assert.equal(help.code, 0, help.stderr);
  for (const code of ['0 ', '1 ', '2 ', '3 ', '4 ', '5 ', '10 ']) assert.match(help.stdout, new RegExp(`\\n  ${code}`));
  const missing = await runCli(['status', uniqueName('nope'), '--json'], { command: [process.execPath, join(root, 'bin/rcp.js')], cwd: workDir });
  assert.equal(missing.code, 3);
  assert.equal(errorOf(missing)['code'], 'PIPELINE_NOT_FOUND');
});

test('remote text is printed without escape sequences or signed queries', async () => {
  const pipelineId = uniqueName('cli-escape');
  const hostileMessage = '\u001b[2J\u001b]0;owned\u0007boom \u001b[31mred\u001b[0m see https://bucket.example.com/in.png?X-Amz-Signature=abc123def';
  await stack.emulator.admin.addFault({ kind: 'job_failure', deploymentId: t2iDeploymentId, count: 1, failure: { kind: 'permanent', message: hostileMessage } });
  assert.equal((await runCli(['start', '--spec', await writeSpec('escape.json', imageSpec(pipelineId, 'escape')), '--json'])).code, 0);
  const failed = await runCli(['result', pipelineId]);
  assert.equal(failed.code, 1, failed.stdout);
  const status = await runCli(['status', pipelineId]);
  for (const run of [failed, status]) {
    const printed = run.stdout + run.stderr;
    assert.match(printed, /boom red/);
    assert.ok(!printed.includes('\u001b') && !printed.includes('\u0007'), 'no control characters reach the terminal');
    assert.ok(!printed.includes('abc123def'), 'no signed query string is printed');
  }
});

test('no command printed a secret', () => {
  const everything = everyOutput.join('\n');
  assert.ok(everything.length > 0);
  for (const secret of [stack.s3.secretAccessKey, EMULATOR_TOKEN]) assert.ok(!everything.includes(secret), 'a secret leaked into CLI output');
});
