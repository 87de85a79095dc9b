/**
 * Prebuilds the workflow bundle a production worker loads through WORKFLOW_BUNDLE_PATH, so each
 * worker process starts without running webpack (seconds of CPU and ~100 MB per start).
 *
 *   tsx scripts/build-workflow-bundle.ts [outFile]     (default: dist/workflow-bundle.js)
 *
 * Part of `npm run build`; the container image sets WORKFLOW_BUNDLE_PATH=/app/dist/workflow-bundle.js.
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { workflowBundleOptions } from '../src/worker/workflow-code.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const outFile = resolve(root, process.argv[2] ?? 'dist/workflow-bundle.js');

// webpack's progress lines are noise in a build log; its warnings and errors are not
const buildLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};

const startedAt = Date.now();
const { code } = await bundleWorkflowCode({ ...workflowBundleOptions(), logger: buildLogger });
await mkdir(dirname(outFile), { recursive: true });
await writeFile(outFile, code);
const shownPath = relative(process.cwd(), outFile).startsWith('..') ? outFile : relative(process.cwd(), outFile);
console.log(`workflow bundle: ${shownPath} (${Math.round(Buffer.byteLength(code) / 1024)} KiB, ${Date.now() - startedAt} ms)`);
