import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ObjectStore } from '../../src/storage/object-store.js';
import { copyMemoryBudgetBytes } from '../../src/storage/memory-budget.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import { testS3 } from '../support/local-stack.js';
const MiB = 1024 * 1024;
const s3 = await testS3();
const child = spawn(process.execPath, ['--import', 'tsx', 'test/storage/zz-source-child.ts'], { stdio: ['ignore', 'pipe', 'inherit'] });
const [line] = await once(child.stdout!, 'data');
const origin = String(line).trim();
const client = createObjectStoreClient({ ...s3 });
for (const [partSizeBytes, queueSize] of [[8 * MiB, 4], [5 * MiB, 2]] as const) {
  const store = new ObjectStore({ client, bucket: s3.bucket, partSizeBytes, queueSize, keyPrefix: 'memprobe/' });
  const size = 256 * MiB;
  let peakLive = 0;
  const timer = setInterval(() => { global.gc!(); peakLive = Math.max(peakLive, process.memoryUsage().arrayBuffers); }, 25);
  await store.persistFromUrl({ sourceUrl: `${origin}/bytes/mem2-${partSizeBytes}.bin?size=${size}`, key: `big2-${partSizeBytes}.bin`, signal: new AbortController().signal });
  clearInterval(timer);
  console.log(JSON.stringify({ partMiB: partSizeBytes / MiB, queueSize, peakLiveArrayBuffersMiB: +(peakLive / MiB).toFixed(1), budgetMiB: +(copyMemoryBudgetBytes({ partSizeBytes, queueSize }) / MiB).toFixed(2) }));
}
child.kill();
client.destroy();
