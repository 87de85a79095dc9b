/**
 * Test access to the real servers: the ones `scripts/with-local-stack.ts` started for the whole run
 * (RCP_TEST_* variables), or, when a file runs on its own, servers started for this file only.
 */
import { after } from 'node:test';
import { startS3Server } from '../../src/devstack/ceph-s3-server.js';
import { startTemporalDevServer } from '../../src/devstack/temporal-dev-server.js';
import { PIPELINE_SEARCH_ATTRIBUTES } from '../../src/contract/search-attributes.js';

export interface TestTemporal {
  address: string;
  namespace: string;
  uiUrl: string | undefined;
}

export interface TestS3 {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
}

let temporal: Promise<TestTemporal> | undefined;
let s3: Promise<TestS3> | undefined;

export function testTemporal(): Promise<TestTemporal> {
  temporal ??= (async () => {
    const address = process.env['RCP_TEST_TEMPORAL_ADDRESS'];
    if (address) {
      return { address, namespace: process.env['RCP_TEST_TEMPORAL_NAMESPACE'] || 'default', uiUrl: process.env['RCP_TEST_TEMPORAL_UI_URL'] || undefined };
    }
    const server = await startTemporalDevServer({ searchAttributes: { ...PIPELINE_SEARCH_ATTRIBUTES } });
    after(() => server.stop());
    return server;
  })();
  return temporal;
}

export function testS3(): Promise<TestS3> {
  s3 ??= (async () => {
    const endpoint = process.env['RCP_TEST_S3_ENDPOINT'];
    if (endpoint) {
      return {
        endpoint,
        bucket: process.env['RCP_TEST_S3_BUCKET'] ?? 'pipeline-outputs',
        accessKeyId: process.env['RCP_TEST_S3_ACCESS_KEY_ID'] ?? '',
        secretAccessKey: process.env['RCP_TEST_S3_SECRET_ACCESS_KEY'] ?? '',
      };
    }
    const server = await startS3Server();
    after(() => server.stop());
    return server;
  })();
  return s3;
}

/** A name no other test in the run uses (task queues, workflow ids, key prefixes). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
