/**
 * A process that owns a local stack (a Temporal dev server and an S3 server) and keeps the S3
 * server busy with multipart uploads until it is killed. It prints one JSON line once an upload is
 * under way: the watchdog and server pids and the state folders of its own stack, so a test can
 * SIGKILL this process and check that nothing of the stack is left.
 */
import { CreateMultipartUploadCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { startS3Server } from '../../src/devstack/ceph-s3-server.js';
import { startTemporalDevServer } from '../../src/devstack/temporal-dev-server.js';

const [temporal, s3] = await Promise.all([startTemporalDevServer({ ui: false }), startS3Server()]);

/** The server a watchdog started (not the `sleep` it polls with). */
function childrenOf(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return children.filter((child) => readFileSync(`/proc/${child}/comm`, 'utf8').trim() !== 'sleep');
  } catch {
    return [];
  }
}

const runDir = join(s3.workDir, 'run');
const watchdogs = [temporal.pid!, ...readdirSync(runDir).filter((name) => name.endsWith('.watchdog.pid')).map((name) => Number(readFileSync(join(runDir, name), 'utf8')))];
const pids = [...watchdogs, ...watchdogs.flatMap(childrenOf)];

const client = new S3Client({ region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
const part = Buffer.alloc(5 * 1024 * 1024, 7);
let reported = false;
for (let upload = 0; ; upload += 1) {
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key: `busy-${upload}` }));
  for (let partNumber = 1; partNumber <= 1000; partNumber += 1) {
    // Several parts in flight at once: the gateway is mid-request whenever the kill lands.
    await Promise.all([0, 1, 2].map((i) => client.send(new UploadPartCommand({ Bucket: s3.bucket, Key: `busy-${upload}`, UploadId, PartNumber: partNumber * 3 + i, Body: part }))));
    if (!reported) {
      reported = true;
      console.log(JSON.stringify({ pids, dirs: [s3.workDir, dirname(temporal.logFile)] }));
    }
  }
}
