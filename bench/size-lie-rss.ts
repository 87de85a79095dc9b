/**
 * Peak RSS of the worker's copy path while hostile sources lie about sizes. Each case runs the
 * same `ObjectStore.persistFromUrl` the persist activity runs (8 MiB parts, 4 in flight: the
 * worker's defaults), in this process, against a hostile HTTP server on 127.0.0.1 and the real S3
 * server; RSS is sampled every 10 ms.
 *
 *   npx tsx scripts/with-local-stack.ts -- npx tsx bench/size-lie-rss.ts
 *
 * Reads the S3 server from RCP_TEST_S3_* (set by with-local-stack). Prints one line per case and a
 * JSON summary.
 */
import { createServer } from 'node:http';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ObjectStore } from '../src/storage/object-store.js';
import { createObjectStoreClient } from '../src/storage/s3-client.js';

const MiB = 1024 * 1024;
const env = process.env;
const s3 = {
  endpoint: env['RCP_TEST_S3_ENDPOINT'] ?? '',
  bucket: env['RCP_TEST_S3_BUCKET'] ?? '',
  accessKeyId: env['RCP_TEST_S3_ACCESS_KEY_ID'] ?? '',
  secretAccessKey: env['RCP_TEST_S3_SECRET_ACCESS_KEY'] ?? '',
};
if (!s3.endpoint) {
  console.error('run under scripts/with-local-stack.ts (needs RCP_TEST_S3_*)');
  process.exit(2);
}
const maxOutputBytes = Number(env['SIZE_LIE_MAX_OUTPUT_MB'] ?? '512') * MiB;

const chunk = Buffer.alloc(256 * 1024, 0x5a);
function pump(res: ServerResponse, limitBytes: number): void {
  let sent = 0;
  const go = (): void => {
    while (!res.destroyed && sent < limitBytes) {
      sent += chunk.length;
      if (!res.write(chunk)) {
        res.once('drain', go);
        return;
      }
    }
    if (!res.destroyed) res.end();
  };
  go();
}

const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  if (path === '/claims-10tb') {
    // The announced length alone used to size the parts (~1 GiB each).
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(10 * 1024 ** 4) });
    pump(res, Number.MAX_SAFE_INTEGER);
  } else if (path === '/claims-1mib-sends-more') {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(MiB) });
    // Node refuses to write past Content-Length; the socket is written directly instead.
    res.flushHeaders();
    const socket = res.socket!;
    let sent = 0;
    const go = (): void => {
      while (!socket.destroyed && sent < 64 * MiB) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once('drain', go);
      }
    };
    go();
  } else if (path === '/no-length-endless') {
    res.writeHead(200, { 'content-type': 'video/mp4' });
    pump(res, Number.MAX_SAFE_INTEGER);
  } else {
    res.writeHead(404).end();
  }
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const client = createObjectStoreClient({ ...s3, maxSockets: 16 });
const store = new ObjectStore({ client, bucket: s3.bucket, keyPrefix: `size-lie-${process.pid}/`, sourcePolicy: { allowLoopback: true, allowedHosts: [] }, maxOutputBytes });

let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
const results: Record<string, unknown>[] = [];
for (const name of ['claims-10tb', 'claims-1mib-sends-more', 'no-length-endless']) {
  global.gc?.();
  const before = process.memoryUsage().rss;
  peak = before;
  const started = Date.now();
  let outcome: string;
  try {
    const stored = await store.persistFromUrl({ sourceUrl: `${base}/${name}`, key: `${name}.mp4`, signal: new AbortController().signal });
    // The HTTP parser ends the body at Content-Length: bytes past it are never part of the file.
    outcome = `stored ${stored.bytes} bytes`;
  } catch (error) {
    const typed = error as { name?: string; code?: string; retryable?: boolean; message?: string };
    outcome = `${typed.name} ${typed.code} retryable=${String(typed.retryable)}: ${typed.message}`;
  }
  const row = { case: name, rssBeforeMiB: +(before / MiB).toFixed(1), peakRssMiB: +(peak / MiB).toFixed(1), growthMiB: +((peak - before) / MiB).toFixed(1), ms: Date.now() - started, outcome };
  results.push(row);
  console.log(`${name}: peak RSS ${row.peakRssMiB} MiB (+${row.growthMiB} MiB) in ${row.ms} ms — ${outcome}`);
}
clearInterval(sampler);
console.log(JSON.stringify({ maxOutputBytes, partSizeBytes: store.partSizeBytes, queueSize: store.queueSize, results }));
server.closeAllConnections();
server.close();
client.destroy();
