import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emulatorDeploymentId } from '../../src/emulator/deployment-id.js';
import {
  DeploymentRegistryError,
  checkBindings,
  compareNodeIds,
  orderOutputNodeIds,
  orderStepOutputs,
  pickStepOutput,
  validateDeploymentRegistry,
} from '../../src/pipeline/index.js';
import type { DeploymentEntry, DeploymentRegistry } from '../../src/pipeline/index.js';
import { loadRegistryFile, loadRegistryFileSync } from '../../src/pipeline/registry-file.js';

const registryPath = fileURLToPath(new URL('../../config/deployments.json', import.meta.url));
const fixturesDir = fileURLToPath(new URL('../fixtures/comfy/', import.meta.url));

/** Which real workflow each shipped deployment was written against. */
const workflowFileByKey: Record<string, string> = {
  'flux-t2i': 'fofr_flux_dev_fp8_t2i',
  'reactor-faceswap': 'fofr_reactor_faceswap',
  'ultimate-upscale': 'fofr_ultimate_sd_upscale_cn_tile',
  'wan-i2v': 'discomfy_wan21_vace_i2v_vhs',
};

async function loadWorkflow(name: string): Promise<unknown> {
  return JSON.parse(await readFile(join(fixturesDir, `${name}.json`), 'utf8')) as unknown;
}

describe('shipped registry config/deployments.json', () => {
  let registry: DeploymentRegistry;
  before(async () => {
    registry = await loadRegistryFile(registryPath);
  });

  it('covers exactly the four default deployments, each for its workflow', () => {
    assert.deepEqual(Object.keys(registry.deployments).sort(), Object.keys(workflowFileByKey).sort());
    for (const [key, entry] of Object.entries(registry.deployments)) {
      const workflow = workflowFileByKey[key];
      assert.ok(workflow, key);
      assert.equal(entry.deploymentId, emulatorDeploymentId(workflow), `${key} deploymentId`);
    }
  });

  it('every binding passes checkBindings against the real workflow it was made from', async () => {
    for (const [key, entry] of Object.entries(registry.deployments)) {
      const workflow = await loadWorkflow(workflowFileByKey[key] ?? '');
      assert.deepEqual(checkBindings(entry, workflow, key), [], key);
      // The v2 API may hand the graph over as a JSON string.
      assert.deepEqual(checkBindings(entry, JSON.stringify(workflow), key), [], `${key} (string form)`);
    }
  });

  it('prefers output nodes that exist in each workflow', async () => {
    for (const [key, entry] of Object.entries(registry.deployments)) {
      const workflow = (await loadWorkflow(workflowFileByKey[key] ?? '')) as Record<string, unknown>;
      for (const nodeId of entry.outputs?.preferNodeIds ?? []) assert.ok(Object.hasOwn(workflow, nodeId), `${key} output node ${nodeId}`);
    }
  });

  it('loads the same way synchronously', () => {
    assert.deepEqual(loadRegistryFileSync(registryPath), registry);
  });
});

describe('checkBindings problems', () => {
  const entry = (bindings: DeploymentEntry['bindings'], kind: DeploymentEntry['kind'] = 'upscale'): DeploymentEntry => ({
    deploymentId: 'dep-1',
    kind,
    bindings,
    budgets: { queueTimeoutMs: 1000, runTimeoutMs: 1000 },
  });
  let upscaleWorkflow: unknown;
  let fluxWorkflow: unknown;
  before(async () => {
    upscaleWorkflow = await loadWorkflow('fofr_ultimate_sd_upscale_cn_tile');
    fluxWorkflow = await loadWorkflow('fofr_flux_dev_fp8_t2i');
  });

  it('rejects a binding to a linked input and points at the source node', () => {
    // UltimateSDUpscale.image is wired from LoadImage 10: overriding it would cut the graph.
    const problems = checkBindings(entry({ imageUrl: { nodeId: '3', inputKey: 'image' } }), upscaleWorkflow, 'my-upscale');
    assert.equal(problems.length, 1);
    const [problem] = problems;
    assert.equal(problem?.code, 'linked-input');
    assert.equal(problem?.param, 'imageUrl');
    assert.equal(
      problem?.message,
      'deployment "my-upscale": parameter "imageUrl" is bound to input "image" of node "3" (UltimateSDUpscale), which is wired from ' +
        'node "10" (LoadImage) output 0; overriding it would cut that link: bind an input of node "10" instead',
    );
  });

  it('rejects a binding to a missing node', () => {
    const [problem, ...rest] = checkBindings(entry({ imageUrl: { nodeId: '68:6', inputKey: 'image' } }), upscaleWorkflow, 'my-upscale');
    assert.equal(rest.length, 0);
    assert.equal(problem?.code, 'missing-node');
    assert.equal(problem?.nodeId, '68:6');
    assert.match(problem?.message ?? '', /^deployment "my-upscale": parameter "imageUrl" is bound to node "68:6", which is not in the workflow \(nodes: 3, 4, 6, 7, 9, 10, 11, 12, 13\)$/);
  });

  it('rejects a binding to a missing input key, naming class_type and title', () => {
    const [problem] = checkBindings(entry({ prompt: { nodeId: '6', inputKey: 'txt' } }, 't2i'), fluxWorkflow, 'flux');
    assert.equal(problem?.code, 'missing-input');
    assert.equal(
      problem?.message,
      'deployment "flux": parameter "prompt" is bound to input "txt" of node "6" (CLIPTextEncode "CLIP Text Encode (Positive Prompt)"), ' +
        'which has no such input (inputs: text, clip)',
    );
  });

  it('rejects a literal whose type does not fit the parameter', () => {
    const [problem] = checkBindings(entry({ prompt: { nodeId: '31', inputKey: 'seed' } }, 't2i'), fluxWorkflow, 'flux');
    assert.equal(problem?.code, 'value-type-mismatch');
    assert.match(problem?.message ?? '', /parameter "prompt" \(text\) is bound to input "seed" of node "31" \(KSampler\), which holds a number \(1119851866655636\), not a string/);
  });

  it('reports every problem of an entry, and UI-format or non-object graphs once', () => {
    const bad = entry({
      imageUrl: { nodeId: '3', inputKey: 'image' },
      prompt: { nodeId: '99', inputKey: 'text' },
      seed: { nodeId: '3', inputKey: 'sead' },
    });
    assert.deepEqual(checkBindings(bad, upscaleWorkflow, 'x').map((problem) => problem.code), ['linked-input', 'missing-node', 'missing-input']);
    assert.deepEqual(checkBindings(bad, { nodes: [], links: [] }, 'x').map((problem) => problem.code), ['invalid-workflow']);
    assert.deepEqual(checkBindings(bad, '{oops', 'x').map((problem) => problem.code), ['invalid-workflow']);
    assert.deepEqual(checkBindings(bad, [], 'x').map((problem) => problem.code), ['invalid-workflow']);
  });
});

describe('registry schema', () => {
  const valid = {
    deployments: {
      up: {
        deploymentId: 'd-1',
        kind: 'upscale',
        bindings: { imageUrl: { nodeId: '10', inputKey: 'image' } },
        budgets: { queueTimeoutMs: 5, runTimeoutMs: 5 },
      },
    },
  };

  it('accepts a minimal registry', () => {
    assert.equal(validateDeploymentRegistry(valid).ok, true);
  });

  it('names the JSON path and reason of each problem', () => {
    const result = validateDeploymentRegistry({
      defaults: { deploymentByKind: { t2i: 'up', i2v: 'nope' } },
      deployments: {
        up: { ...valid.deployments.up, budgets: { queueTimeoutMs: 0, runTimeoutMs: 5 }, bindings: { prompt: { nodeId: 6, inputKey: 'text' } } },
      },
    });
    assert.equal(result.ok, false);
    assert.ok(!result.ok);
    const byPath = new Map(result.issues.map((issue) => [issue.path, issue.message]));
    assert.equal(byPath.get('deployments.up.budgets.queueTimeoutMs'), 'queueTimeoutMs must be at least 1 ms');
    assert.equal(byPath.get('deployments.up.bindings.prompt.nodeId'), 'node id must be a string such as "6" or "68:6"');
  });

  it('checks required bindings per kind, duplicate targets and default keys', () => {
    const result = validateDeploymentRegistry({
      defaults: { deploymentByKind: { t2i: 'up', i2v: 'nope' } },
      deployments: {
        up: {
          ...valid.deployments.up,
          bindings: { image: { nodeId: '10', inputKey: 'image' }, other: { nodeId: '10', inputKey: 'image' } },
        },
      },
    });
    assert.ok(!result.ok);
    assert.deepEqual(result.issues, [
      { path: 'deployments.up.bindings', message: 'kind "upscale" requires a binding for parameter "imageUrl"' },
      { path: 'deployments.up.bindings.other', message: 'binds node "10" input "image", already bound by parameter "image"' },
      { path: 'defaults.deploymentByKind.t2i', message: 'deployment "up" has kind "upscale", not "t2i"' },
      { path: 'defaults.deploymentByKind.i2v', message: 'unknown deployment "nope"' },
    ]);
  });

  it('orders output node ids: preferred first, then numeric-aware', () => {
    const entry = { ...valid.deployments.up, kind: 'upscale' as const, outputs: { preferNodeIds: ['171', '9'] } };
    assert.deepEqual(orderOutputNodeIds(entry, ['21', '68:10', '9', '68:6', '100', '171']), ['171', '9', '21', '68:6', '68:10', '100']);
    assert.ok(compareNodeIds('9', '10') < 0);
    assert.ok(compareNodeIds('68:6', '68:10') < 0);
  });

  it("decides which output a later step receives: a preferred node wins over the node-id order", () => {
    // A preview node (9) sorts before the final save node (171); the registry prefers the final one.
    const outputs = [
      { nodeId: '9', media: 'image', key: 'preview.png' },
      { nodeId: '171', media: 'image', key: 'final-0.png' },
      { nodeId: '171', media: 'image', key: 'final-1.png' },
      { nodeId: '200', media: 'video', key: 'clip.mp4' },
    ];
    const mediaOf = (output: { media: string }) => output.media;
    const plain = { ...valid.deployments.up, kind: 'upscale' as const };
    const preferring = { ...plain, outputs: { preferNodeIds: ['171'] } };
    assert.equal(pickStepOutput(orderStepOutputs(plain, outputs), 'image', mediaOf)?.key, 'preview.png', 'without a preference: the lowest node id');
    assert.equal(pickStepOutput(orderStepOutputs(preferring, outputs), 'image', mediaOf)?.key, 'final-0.png', 'the preferred node, its first file');
    assert.equal(pickStepOutput(orderStepOutputs(preferring, outputs), 'first', mediaOf)?.key, 'final-0.png');
    // A preference for another medium leaves the selector's medium to decide.
    assert.equal(pickStepOutput(orderStepOutputs(preferring, outputs), 'video', mediaOf)?.key, 'clip.mp4');
    assert.deepEqual(orderStepOutputs(preferring, outputs).map((o) => o.key), ['final-0.png', 'final-1.png', 'preview.png', 'clip.mp4'], 'files of one node keep their order');
    assert.deepEqual(orderStepOutputs(undefined, outputs), outputs, 'no entry: the order as received (already by node id)');
  });
});

describe('loadRegistryFile errors', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'registry-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the file, the JSON path and the reason', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, JSON.stringify({ deployments: { 'flux-t2i': { deploymentId: 'x', kind: 't2i', bindings: {}, budgets: { queueTimeoutMs: 1, runTimeoutMs: -1 } } } }));
    await assert.rejects(loadRegistryFile(file), (error: unknown) => {
      assert.ok(error instanceof DeploymentRegistryError);
      assert.equal(error.name, 'DeploymentRegistryError');
      assert.equal(error.code, 'DEPLOYMENT_REGISTRY_INVALID');
      assert.equal(error.source, file);
      assert.ok(error.message.startsWith(`invalid deployment registry ${file}: `), error.message);
      assert.ok(error.message.includes('deployments.flux-t2i.budgets.runTimeoutMs: runTimeoutMs must be at least 1 ms'), error.message);
      assert.deepEqual(error.issues, [
        { path: 'deployments.flux-t2i.budgets.runTimeoutMs', message: 'runTimeoutMs must be at least 1 ms' },
        { path: 'deployments.flux-t2i.bindings', message: 'kind "t2i" requires a binding for parameter "prompt"' },
      ]);
      return true;
    });
  });

  it('reports invalid JSON and unreadable files with the file name', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(file, '{"deployments": ');
    await assert.rejects(loadRegistryFile(file), (error: unknown) => {
      assert.ok(error instanceof DeploymentRegistryError);
      assert.match(error.message, new RegExp(`^invalid deployment registry ${file}: not valid JSON \\(`));
      return true;
    });
    const missing = join(dir, 'missing.json');
    assert.throws(() => loadRegistryFileSync(missing), (error: unknown) => {
      assert.ok(error instanceof DeploymentRegistryError);
      assert.match(error.message, /cannot read file \(ENOENT/);
      assert.ok(error.message.includes(missing));
      return true;
    });
  });
});
