/**
 * The client package as the backend consumes it: packed with `npm pack`, installed from the
 * tarball into a project with the backend's compiler settings (CommonJS, `moduleResolution: node`,
 * es2021), compiled with tsc, and run under Node 20 against the local stack: start, status, watch,
 * cancel, result, list by user. ES module consumers are checked too (import + NodeNext types).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildClientPackage, packClientPackage } from '../../scripts/build-client-package.js';
import { startPipelineStack } from '../support/pipeline-stack.js';
import { fixtureLockfile } from './fixture-lockfile.js';
import { findModernNodes, findNode20 } from './node20.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtureSource = join(root, 'test/fixtures/client-package');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

const node20 = findNode20();
const work = mkdtempSync(join(tmpdir(), 'rcp-client-package-'));
after(() => rmSync(work, { recursive: true, force: true }));

function rootLockVersion(name: string): string {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> };
  const version = lock.packages[`node_modules/${name}`]?.version;
  if (!version) throw new Error(`${name} is not in the repository's lockfile`);
  return version;
}

/** Builds, packs and installs the package into a copy of the fixture; returns the fixture folder. */
async function installedFixture(): Promise<string> {
  const packageDir = buildClientPackage();
  const tarball = packClientPackage(join(work, 'pack'));
  const fixture = join(work, 'fixture');
  cpSync(fixtureSource, fixture, { recursive: true });
  const { packageJson, lockfile } = fixtureLockfile({
    rootLockfilePath: join(root, 'package-lock.json'),
    fixtureName: 'backend-fixture',
    tarballRelativePath: '../pack/' + tarball.split('/').at(-1),
    tarballPath: tarball,
    packageJson: JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as Parameters<typeof fixtureLockfile>[0]['packageJson'],
    // The repository's own @types/node: the only version the npm cache is sure to hold.
    extra: { '@types/node': rootLockVersion('@types/node') },
  });
  writeFileSync(join(fixture, 'package.json'), JSON.stringify(packageJson, null, 2));
  writeFileSync(join(fixture, 'package-lock.json'), JSON.stringify(lockfile, null, 2));
  // Offline: every tarball comes from the npm cache the repository's own `npm ci` filled.
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: fixture });
  return fixture;
}

test('the packed client works from a CommonJS backend on Node 20 and from ES modules', { skip: node20 ? false : 'no Node 20 binary found (set RCP_NODE20)' }, async (t) => {
  const fixture = await installedFixture();

  await t.test('the tarball holds both builds and no worker or storage SDK dependency', () => {
    const manifest = JSON.parse(readFileSync(join(fixture, 'node_modules/@ryla/generation-pipelines/package.json'), 'utf8')) as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}).sort(), ['@temporalio/client', '@temporalio/common', '@temporalio/workflow', 'zod']);
    const exported = manifest.exports?.['.'] as Record<string, Record<string, string>>;
    assert.match(exported.require?.default ?? '', /dist\/cjs\//);
    assert.match(exported.import?.default ?? '', /dist\/esm\//);
  });

  // Compiled with the Node 20 binary too: the backend's build machine runs Node 20.
  const compiled = await run(node20!, [tsc, '-p', join(fixture, 'tsconfig.json')], { cwd: fixture }).catch((error: { stdout?: string }) => {
    throw new Error(`the fixture does not compile:\n${error.stdout ?? String(error)}`);
  });
  assert.equal(compiled.stdout.trim(), '');

  await t.test('ES module consumers: import on Node 22+ (and on this Node and Node 20), NodeNext types', async (sub) => {
    const probe = `import { PipelineClient, verifyCallback } from '@ryla/generation-pipelines'; import { createRequire } from 'node:module'; const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => /@aws-sdk|@temporalio[\\/]worker/.test(p)); console.log(process.version, typeof PipelineClient, typeof verifyCallback, loaded.length);`;
    const modern = findModernNodes();
    if (modern.length === 0) sub.diagnostic('no Node 22+ binary on this machine: ES modules checked on this Node only');
    for (const node of new Set([...modern.map((m) => m.path), process.execPath, node20!].map((path) => realpathSync(path)))) {
      const { stdout } = await run(node, ['--input-type=module', '-e', probe], { cwd: fixture });
      sub.diagnostic(`ESM import: ${stdout.trim()}`);
      assert.match(stdout.trim(), /^v\d+\.\d+\.\d+ function function 0$/);
    }
    writeFileSync(join(fixture, 'esm-check.mts'), `import { PipelineClient, type PipelineStatusView } from '@ryla/generation-pipelines';\nexport const kind: string = typeof PipelineClient;\nexport type View = PipelineStatusView;\n`);
    await run(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', '--types', 'node', join(fixture, 'esm-check.mts')], { cwd: fixture });
  });

  const stack = await startPipelineStack();
  // Long enough jobs that the fixture can see its second pipeline running and cancel it mid-run.
  await stack.emulator.admin.updateDeploymentConfig(stack.emulator.deploymentId('fofr_flux_dev_fp8_t2i'), { timing: { durationMs: 4_000 } });
  const ids = { JOB_A: randomUUID(), JOB_B: randomUUID(), USER_ID: randomUUID(), CHARACTER_ID: randomUUID() };
  const { stdout, stderr } = await run(node20!, [join(fixture, 'dist/main.js')], {
    cwd: fixture,
    env: { PATH: process.env.PATH ?? '', TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: stack.temporal.namespace, TASK_QUEUE: stack.taskQueue, ...ids },
    timeout: 120_000,
  }).catch((error: { stdout?: string; stderr?: string }) => {
    throw new Error(`the fixture failed:\n${error.stdout ?? ''}\n${error.stderr ?? String(error)}`);
  });
  if (process.env.RCP_SHOW_FIXTURE_OUTPUT) console.log(`${compiled.stdout}${stdout}${stderr}`);
  const events = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown> & { event: string });
  const one = (name: string) => {
    const found = events.find((e) => e.event === name);
    assert.ok(found, `the fixture reported ${name}`);
    return found;
  };
  assert.match(String(one('runtime').node), /^v20\./);
  assert.equal(one('runtime').moduleSystem, 'commonjs');
  const refusals = events.filter((e) => e.event === 'refused');
  assert.deepEqual(refusals.map((e) => e.ok), [true, true]);
  assert.match(String(refusals[0]?.message), /pipeline id must be a UUID/);
  assert.match(String(refusals[1]?.message), /correlation.*tenant|tenant/);
  assert.deepEqual(one('start').alreadyStarted, false);
  assert.deepEqual((one('status').correlation as object), { userId: ids.USER_ID, characterId: ids.CHARACTER_ID });
  assert.ok((one('watch').states as string[]).at(-1) === 'succeeded/succeeded');
  assert.equal(one('result').status, 'succeeded');
  assert.deepEqual(one('result').correlation, { userId: ids.USER_ID, characterId: ids.CHARACTER_ID });
  assert.equal(one('running').ok, true);
  assert.equal(one('cancelled').ok, true);
  assert.equal(one('cancelled').reason, 'user left the page');
  assert.deepEqual(one('cancelled').steps, ['cancelled']);
  const gpu = one('cancelled').gpu as { totals: { stepsWithGpu: string[] }; steps: { runSeconds: number }[] };
  assert.deepEqual(gpu.totals.stepsWithGpu, ['t2i'], 'the cancelled job spent GPU time');
  assert.ok((gpu.steps[0]?.runSeconds ?? 0) > 0);
  assert.deepEqual(one('callback'), { event: 'callback', verified: 'evt-1', forged: 'bad-signature' });
  assert.deepEqual(one('list').pipelineIds, [ids.JOB_A, ids.JOB_B].sort());
  assert.deepEqual(one('modules').forbidden, []);
});
