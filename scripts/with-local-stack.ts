/**
 * Starts one Temporal dev server and one local S3 server, runs the command after `--` with their
 * addresses in the environment (RCP_TEST_*), then stops both, whatever the command's outcome.
 * Test files reuse the shared servers instead of each starting their own.
 */
import { spawn } from 'node:child_process';
import { startS3Server } from '../src/devstack/ceph-s3-server.js';
import { startTemporalDevServer } from '../src/devstack/temporal-dev-server.js';
import { MissingToolError } from '../src/devstack/tool-paths.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../src/contract/search-attributes.js';

const separator = process.argv.indexOf('--');
const command = separator >= 0 ? process.argv.slice(separator + 1) : [];
if (command.length === 0) {
  console.error('usage: tsx scripts/with-local-stack.ts -- <command> [args…]');
  process.exit(2);
}

const startedAt = Date.now();
const results = await Promise.allSettled([
  startTemporalDevServer({ searchAttributes: { ...PIPELINE_SEARCH_ATTRIBUTES } }),
  startS3Server(),
]);
const [temporalResult, s3Result] = results;
if (temporalResult.status === 'rejected' || s3Result.status === 'rejected') {
  for (const r of results) if (r.status === 'fulfilled') await r.value.stop();
  for (const r of results) {
    if (r.status === 'rejected') {
      const error = r.reason as Error;
      console.error(error instanceof MissingToolError ? error.message : `${error.message}\n${(error.cause as Error | undefined)?.message ?? ''}`);
    }
  }
  process.exit(1);
}
const temporal = temporalResult.value;
const s3 = s3Result.value;
console.log(`local stack ready in ${Date.now() - startedAt} ms: Temporal ${temporal.address} (UI ${temporal.uiUrl}), S3 ${s3.endpoint}`);

const child = spawn(command[0]!, command.slice(1), {
  stdio: 'inherit',
  env: {
    ...process.env,
    RCP_TEST_TEMPORAL_ADDRESS: temporal.address,
    RCP_TEST_TEMPORAL_NAMESPACE: temporal.namespace,
    RCP_TEST_TEMPORAL_UI_URL: temporal.uiUrl ?? '',
    RCP_TEST_S3_ENDPOINT: s3.endpoint,
    RCP_TEST_S3_BUCKET: s3.bucket,
    RCP_TEST_S3_ACCESS_KEY_ID: s3.accessKeyId,
    RCP_TEST_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  },
});

let stopping = false;
const forward = (signal: NodeJS.Signals): void => {
  stopping = true;
  child.kill(signal);
};
process.on('SIGINT', forward);
process.on('SIGTERM', forward);

const exitCode = await new Promise<number>((resolve) => {
  child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 1 : 1)));
  child.on('error', (error) => {
    console.error(`could not run ${command[0]}: ${error.message}`);
    resolve(127);
  });
});
await Promise.allSettled([temporal.stop(), s3.stop()]);
process.exit(stopping && exitCode === 0 ? 130 : exitCode);
