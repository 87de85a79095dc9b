import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { emulatorDeploymentId, startEmulator, type RunningEmulator, type WorkflowGraph } from '../../src/emulator/index.js';
import { api, fixturesDir, startTestEmulator, submit, TOKEN, waitForResult } from './helpers.js';

interface OutputItem {
  url: string;
  filename: string;
  subfolder: string;
  type: string;
  format?: string;
  frame_rate?: number;
}

const MAGIC: Record<string, (bytes: Buffer) => boolean> = {
  png: (bytes) => bytes.subarray(1, 4).toString('latin1') === 'PNG',
  webp: (bytes) => bytes.toString('latin1', 0, 4) === 'RIFF' && bytes.toString('latin1', 8, 12) === 'WEBP',
  mp4: (bytes) => bytes.toString('latin1', 4, 8) === 'ftyp',
  gif: (bytes) => bytes.toString('latin1', 0, 6) === 'GIF89a',
};

describe('every real workflow in test/fixtures/comfy', () => {
  let emulator: RunningEmulator;
  let workflowFiles: string[];
  before(async () => {
    workflowFiles = (await readdir(fixturesDir)).filter((name) => name.endsWith('.json'));
    emulator = await startEmulator({ token: TOKEN, workflowsDir: fixturesDir, timing: { durationMs: 5, jitterMs: 0, coldStartMs: 0 }, scaling: { maxInstances: 2 } });
  });
  after(() => emulator.close());

  it('becomes one deployment per API-format file, id derived from the name', () => {
    assert.ok(workflowFiles.length >= 11);
    assert.deepEqual(emulator.deployments.map((deployment) => deployment.name).sort(), workflowFiles.map((name) => name.slice(0, -5)).sort());
    for (const deployment of emulator.deployments) assert.equal(deployment.id, emulatorDeploymentId(deployment.name));
    assert.deepEqual(emulator.skippedFiles, []);
  });

  it('names the source and licence of every fixture workflow in SOURCES.md', async () => {
    const sources = await readFile(path.join(fixturesDir, 'SOURCES.md'), 'utf8');
    for (const fileName of workflowFiles) {
      const line = sources.split('\n').find((entry) => entry.startsWith(`- ${fileName} |`));
      assert.ok(line, `${fileName} has a line in SOURCES.md`);
      assert.match(line, /@[0-9a-f]{6,}.*\((MIT|Apache-2\.0|BSD[^)]*|GPL[^)]*)\)/, `${fileName}: commit and licence`);
    }
  });

  it('maps each output node to the right channel, type and file format, and serves valid files', async () => {
    await Promise.all(
      workflowFiles.map(async (fileName) => {
        const name = fileName.slice(0, -5);
        const graph = JSON.parse(await readFile(path.join(fixturesDir, fileName), 'utf8')) as WorkflowGraph;
        const result = await waitForResult(await submit(emulator, name));
        assert.equal(result.status, 'succeeded', name);
        const outputs = result.outputs as Record<string, Record<string, unknown>>;
        const expectedNodes = Object.entries(graph).filter(([, node]) => ['SaveImage', 'PreviewImage', 'SaveAnimatedWEBP', 'SaveVideo', 'VHS_VideoCombine'].includes(node.class_type));
        assert.ok(expectedNodes.length > 0, `${name} has output nodes`);
        assert.deepEqual(Object.keys(outputs).sort(), expectedNodes.map(([id]) => id).sort(), `${name} outputs keyed by output node id`);
        for (const [nodeId, node] of expectedNodes) {
          const nodeOutputs = outputs[nodeId]!;
          const where = `${name} node ${nodeId} (${node.class_type})`;
          let item: OutputItem;
          switch (node.class_type) {
            case 'SaveImage':
            case 'PreviewImage':
              item = (nodeOutputs.images as OutputItem[])[0]!;
              assert.equal(item.type, node.class_type === 'SaveImage' ? 'output' : 'temp', where);
              assert.match(item.filename, /_\d{5}_\.png$/, where);
              assert.equal(nodeOutputs.animated, undefined, where);
              break;
            case 'SaveAnimatedWEBP':
              item = (nodeOutputs.images as OutputItem[])[0]!;
              assert.deepEqual(nodeOutputs.animated, [true], where);
              assert.match(item.filename, /\.webp$/, where);
              break;
            default:
              item = (nodeOutputs.gifs as OutputItem[])[0]!;
              assert.equal(nodeOutputs.images, undefined, where);
              assert.equal(item.format, node.inputs.format, where);
              assert.equal(item.frame_rate, node.inputs.frame_rate, where);
              assert.equal(item.type, node.inputs.save_output === false ? 'temp' : 'output', where);
              assert.match(item.filename, /^final_output_\d{5}\.mp4$/, where);
          }
          const download = await fetch(item.url);
          const bytes = Buffer.from(await download.arrayBuffer());
          assert.equal(download.status, 200, where);
          assert.equal(Number(download.headers.get('content-length')), bytes.length, where);
          const extension = item.filename.split('.').pop()!;
          assert.equal(download.headers.get('content-type'), { png: 'image/png', webp: 'image/webp', mp4: 'video/mp4', gif: 'image/gif' }[extension], where);
          assert.ok(MAGIC[extension]!(bytes), `${where}: ${extension} magic bytes`);
        }
      }),
    );
  });

  it('accepts overrides of real node inputs: fofr_flux_dev_fp8_t2i "6".text, "31".seed and discomfy "139".value', async () => {
    await submit(emulator, 'fofr_flux_dev_fp8_t2i', { overrides: { '6': { inputs: { text: 'a lighthouse at dusk' } }, '31': { inputs: { seed: 7 } } } });
    await submit(emulator, 'discomfy_wan21_vace_i2v_vhs', { overrides: { '139': { inputs: { value: 49 } }, '171': { inputs: { frame_rate: 16 } } } });
  });
});

describe('workflow folder loading', () => {
  it('skips editor-format (UI) files and files that are not workflows, with a log line each', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'emulator-workflows-'));
    try {
      await writeFile(path.join(dir, 'editor.json'), JSON.stringify({ nodes: [{ id: 1, type: 'SaveImage' }], links: [] }));
      await writeFile(path.join(dir, 'broken.json'), '{not json');
      await writeFile(path.join(dir, 'array.json'), '[1,2]');
      await writeFile(path.join(dir, 'tiny.json'), await readFile(path.join(fixturesDir, 'fofr_flux_dev_fp8_t2i.json')));
      // An object_info dump has the same top-level shape as a graph (id -> object); the name decides.
      await writeFile(path.join(dir, 'object_info_excerpt.json'), JSON.stringify({ SaveImage: { input: { required: { images: ['IMAGE'] } }, output: [], name: 'SaveImage', category: 'image' } }));
      const lines: string[] = [];
      const emulator = await startEmulator({ workflowsDir: dir, log: (line) => lines.push(line) });
      try {
        assert.deepEqual(emulator.deployments.map((deployment) => deployment.name), ['tiny']);
        assert.equal(lines.length, 4);
        assert.ok(lines.some((line) => line.includes('editor.json') && line.includes('UI')));
        assert.ok(lines.some((line) => line.includes('object_info_excerpt.json') && line.includes('object_info')));
      } finally {
        await emulator.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('override validation', () => {
  let emulator: RunningEmulator;
  const compoundGraph: WorkflowGraph = {
    '68:6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['68:30', 1] } },
    '68:30': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'model.safetensors' } },
    '68:8': { class_type: 'VAEDecode', inputs: { samples: ['68:6', 0], vae: ['68:30', 2] } },
    '68:9': { class_type: 'SaveImage', inputs: { filename_prefix: 'sub/Compound', images: ['68:8', 0] } },
    '12': { class_type: 'LoadImage', inputs: { image: 'input.png' } },
  };
  before(async () => {
    emulator = await startTestEmulator({ deployments: [{ name: 'compound', workflowApiJson: compoundGraph }], allowHttpInputUrls: false });
  });
  after(() => emulator.close());

  const post = (name: string, body: unknown) => api(`${emulator.url}/prod/v1/deployments/${emulator.deploymentId(name)}/inference`, { method: 'POST', body });

  it('rejects an unknown node id and an unknown input key with 422 and a detail entry naming each', async () => {
    const response = await post('fofr_flux_dev_fp8_t2i', { overrides: { '6': { inputs: { text: 'ok', txet: 'typo' } }, '999': { inputs: { seed: 1 } }, '31': { inputs: { sead: 1 } } } });
    assert.equal(response.status, 422);
    assert.equal(response.body.error_code, 422001);
    assert.equal(typeof response.body.message, 'string');
    const detail = response.body.detail as { loc: string[]; node_id: string; input?: string; type: string }[];
    assert.deepEqual(
      detail.map((entry) => [entry.type, entry.node_id, entry.input ?? null]).sort(),
      [
        ['unknown_input', '31', 'sead'],
        ['unknown_input', '6', 'txet'],
        ['unknown_node', '999', null],
      ],
    );
    assert.deepEqual(detail.find((entry) => entry.node_id === '6')!.loc, ['body', 'overrides', '6', 'inputs', 'txet']);
    const counters = await emulator.admin.counters(emulator.deploymentId('fofr_flux_dev_fp8_t2i'));
    assert.equal(counters.total.acceptedJobs, 0, 'a rejected submit creates no job');
    assert.equal(counters.total.rejectedSubmits, 1);
  });

  it('rejects overrides that are not {"inputs": {...}}', async () => {
    const response = await post('fofr_flux_dev_fp8_t2i', { overrides: { '6': { text: 'missing inputs wrapper' } } });
    assert.equal(response.status, 422);
    assert.equal((response.body.detail as { type: string }[])[0]!.type, 'invalid_override');
  });

  it('handles compound node ids ("68:6") as plain string keys, in overrides and in outputs', async () => {
    const job = await submit(emulator, 'compound', { overrides: { '68:6': { inputs: { text: 'a dog' } } } });
    const result = await waitForResult(job);
    const items = (result.outputs as Record<string, { images: OutputItem[] }>)['68:9']!.images;
    assert.equal(items[0]!.subfolder, 'sub');
    assert.match(items[0]!.filename, /^Compound_00001_\.png$/);
    const rejected = await post('compound', { overrides: { '68:99': { inputs: { text: 'x' } }, '68': { inputs: { text: 'x' } } } });
    assert.equal(rejected.status, 422);
    assert.deepEqual((rejected.body.detail as { node_id: string }[]).map((entry) => entry.node_id).sort(), ['68', '68:99']);
  });

  it('validates overrides against a submitted workflow_api_json instead of the stored graph', async () => {
    const dynamic: WorkflowGraph = { '5:1': { class_type: 'PreviewImage', inputs: { images: ['4', 0] } }, '4': { class_type: 'EmptyImage', inputs: { width: 8 } } };
    const job = await submit(emulator, 'compound', { workflow_api_json: dynamic, overrides: { '4': { inputs: { width: 16 } } } });
    const result = await waitForResult(job);
    assert.deepEqual(Object.keys(result.outputs as object), ['5:1']);
    const rejected = await post('compound', { workflow_api_json: dynamic, overrides: { '68:6': { inputs: { text: 'not in the dynamic graph' } } } });
    assert.equal(rejected.status, 422);
    const notAGraph = await post('compound', { workflow_api_json: { nodes: [], links: [] } });
    assert.equal(notAGraph.status, 422);
  });

  it('accepts https URLs and base64 data URIs as image inputs and rejects malformed ones', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
    await submit(emulator, 'compound', { overrides: { '12': { inputs: { image: 'https://images.example/face.png' } } } });
    await submit(emulator, 'compound', { overrides: { '12': { inputs: { image: `data:image/png;base64,${png}` } } } });
    const cases: [string, string][] = [
      ['data:image/png;base64,iVBOR!!w0KGgo=', 'invalid_data_uri'],
      ['data:image/png;base64,abc', 'invalid_data_uri'],
      [`data:image/png,${png}`, 'invalid_data_uri'],
      ['http://images.example/face.png', 'invalid_url'],
      ['ftp://images.example/face.png', 'invalid_url'],
    ];
    for (const [image, type] of cases) {
      const response = await post('compound', { overrides: { '12': { inputs: { image } } } });
      assert.equal(response.status, 422, image);
      assert.equal((response.body.detail as { type: string }[])[0]!.type, type, image);
    }
  });
});
