/**
 * Output downloads from hostile sources, against the real local S3 server: refused addresses and
 * redirect chains, size lies, endless streams, drips and stalls, and content types that lie.
 * Every hostile host is only ever named to the guard; the servers here listen on 127.0.0.1.
 */
import { DeleteObjectsCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ObjectStoreError } from '../../src/storage/errors.js';
import { ObjectStore } from '../../src/storage/object-store.js';
import type { ObjectStoreOptions } from '../../src/storage/object-store.js';
import { createObjectStoreClient } from '../../src/storage/s3-client.js';
import { OutputSourceRejectedError, OutputSourceStalledError, OutputTooLargeError } from '../../src/storage/source-errors.js';
import { testS3, uniqueName } from '../support/local-stack.js';

const MiB = 1024 * 1024;
const s3 = await testS3();
const client = createObjectStoreClient({ ...s3, maxSockets: 8 });
const keyPrefix = `${uniqueName('hostile-sources')}/`;
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(1000, 7)]);

/** Requests each route received: a refused hop must never be requested. */
const hits = new Map<string, number>();
let secretHits = 0;

function hostile(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
  switch (url.pathname) {
    case '/redirect': {
      res.writeHead(302, { location: url.searchParams.get('to') ?? '/' });
      res.end();
      return;
    }
    case '/chain': {
      // /chain?n=K redirects K times to itself, then serves a PNG.
      const n = Number(url.searchParams.get('n') ?? '0');
      if (n > 0) {
        res.writeHead(302, { location: `/chain?n=${n - 1}` });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': PNG.length });
        res.end(PNG);
      }
      return;
    }
    case '/huge-length': {
      // Announces 10 TB; sends a little, then keeps the connection open.
      res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(10 * 1024 ** 4) });
      res.write(Buffer.alloc(1024));
      return;
    }
    case '/endless': {
      // No length at all; 256 KiB chunks until the client goes away.
      res.writeHead(200, { 'content-type': 'video/mp4' });
      const chunk = Buffer.alloc(256 * 1024, 1);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return;
    }
    case '/silent': {
      // Accepts the request and never answers: no status line, no headers.
      return;
    }
    case '/drip': {
      // One byte, then silence longer than the idle timeout.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': '100' });
      res.write('x');
      return;
    }
    case '/slow': {
      // A byte every 50 ms: never idle, but never done within the deadline.
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': '100000' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write('y')), 50);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case '/png-as-html': {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': PNG.length });
      res.end(PNG);
      return;
    }
    case '/page.html': {
      const page = Buffer.from('<html><script>alert(1)</script></html>');
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': page.length });
      res.end(page);
      return;
    }
    default:
      res.writeHead(404);
      res.end();
  }
}

const servers: ReturnType<typeof createServer>[] = [];
async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let base = '';
let secretBase = '';
before(async () => {
  base = await listen(hostile);
  // Stands in for an internal service (the Web UI, a metadata endpoint) reachable on loopback.
  secretBase = await listen((_req, res) => {
    secretHits++;
    res.end('internal secret');
  });
});
after(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: keyPrefix }));
  const keys = (listed.Contents ?? []).map((object) => ({ Key: object.Key! }));
  if (keys.length > 0) await client.send(new DeleteObjectsCommand({ Bucket: s3.bucket, Delete: { Objects: keys } }));
  client.destroy();
});

function makeStore(overrides: Partial<ObjectStoreOptions> = {}): ObjectStore {
  return new ObjectStore({ client, bucket: s3.bucket, keyPrefix, partSizeBytes: 5 * MiB, queueSize: 2, sourcePolicy: { allowLoopback: true, allowedHosts: [] }, ...overrides });
}

const production = makeStore({ sourcePolicy: { allowLoopback: false, allowedHosts: [] } });
const local = makeStore({ maxRedirections: 3, maxOutputBytes: 8 * MiB, downloadIdleTimeoutMs: 400, downloadDeadlineMs: 1500 });

async function nothingAt(key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: keyPrefix + key }));
    return false;
  } catch {
    return true;
  }
}

function typed<T extends ObjectStoreError>(type: new (...args: never[]) => T, check: (error: T) => void = () => undefined, retryable = false) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    assert.equal(error.retryable, retryable, retryable ? 'a silence is worth another try' : 'asking again gets the same answer');
    assert.doesNotMatch(error.message, /X-Amz|token=|sig=/i, 'no query string in the message');
    check(error);
    return true;
  };
}

describe('refused sources', () => {
  it('refuses hostile address forms before any request, naming the host only', async () => {
    const signal = new AbortController().signal;
    const cases: [string, string][] = [
      ['http://169.254.169.254/latest/meta-data/?token=abc', '169.254.169.254'],
      ['http://2130706433/x.png?sig=1', '127.0.0.1'],
      ['http://0177.0.0.1/x.png', '127.0.0.1'],
      ['http://127.1/x.png', '127.0.0.1'],
      ['http://[::ffff:127.0.0.1]/x.png', '::ffff:7f00:1'],
      ['http://[fe80::1]/x.png', 'fe80::1'],
      ['http://100.64.1.1/x.png', '100.64.1.1'],
      ['http://10.1.1.1/x.png', '10.1.1.1'],
      [`${base}/chain?n=0`.replace('http:', 'gopher:'), '127.0.0.1'],
    ];
    for (const [url, host] of cases) {
      const key = `refused/${hits.size}-${host.replace(/[^a-z0-9]/gi, '_')}.png`;
      await assert.rejects(production.persistFromUrl({ sourceUrl: url, key, signal }), typed(OutputSourceRejectedError, (error) => assert.equal(error.host, host, url)), url);
      assert.ok(await nothingAt(key));
    }
    // Loopback is refused in production even for the local listener: it was never contacted.
    await assert.rejects(production.persistFromUrl({ sourceUrl: `${secretBase}/`, key: 'refused/secret.png', signal }), typed(OutputSourceRejectedError));
    assert.equal(secretHits, 0);
  });

  it('checks every redirect hop: a 302 to a link-local or a refused loopback target fails without following it', async () => {
    const signal = new AbortController().signal;
    await assert.rejects(
      local.persistFromUrl({ sourceUrl: `${base}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/meta-data/')}`, key: 'redirect/metadata.png', signal }),
      typed(OutputSourceRejectedError, (error) => {
        assert.equal(error.host, '169.254.169.254');
        assert.match(error.message, /redirect 1/);
      }),
    );
    // With loopback refused, a public-looking first hop cannot launder a loopback target either.
    await assert.rejects(production.persistFromUrl({ sourceUrl: `${base}/redirect?to=${encodeURIComponent(`${secretBase}/`)}`, key: 'redirect/secret.png', signal }), typed(OutputSourceRejectedError));
    assert.equal(secretHits, 0);
    assert.ok(await nothingAt('redirect/metadata.png'));
  });

  it('follows a short redirect chain and refuses a longer one', async () => {
    const signal = new AbortController().signal;
    const stored = await local.persistFromUrl({ sourceUrl: `${base}/chain?n=3`, key: 'redirect/ok.png', signal });
    assert.equal(stored.bytes, PNG.length);
    await assert.rejects(local.persistFromUrl({ sourceUrl: `${base}/chain?n=4`, key: 'redirect/long.png', signal }), /more than 3 redirects/);
    assert.ok(await nothingAt('redirect/long.png'));
  });
});

describe('bounded downloads', () => {
  it('refuses an announced 10 TB at the headers, without growing parts or reading the body', async () => {
    const signal = new AbortController().signal;
    const rssBefore = process.memoryUsage().rss;
    await assert.rejects(local.persistFromUrl({ sourceUrl: `${base}/huge-length`, key: 'size/huge.mp4', signal }), typed(OutputTooLargeError, (error) => assert.equal(error.bytes, 10 * 1024 ** 4)));
    assert.ok(process.memoryUsage().rss - rssBefore < 64 * MiB, 'no part buffer sized by the announced length');
    assert.ok(await nothingAt('size/huge.mp4'));
  });

  it('stops a stream without a length at MAX_OUTPUT_BYTES and leaves nothing at the key', async () => {
    const signal = new AbortController().signal;
    await assert.rejects(local.persistFromUrl({ sourceUrl: `${base}/endless`, key: 'size/endless.mp4', signal }), typed(OutputTooLargeError, (error) => assert.equal(error.maxBytes, 8 * MiB)));
    assert.ok(await nothingAt('size/endless.mp4'));
  });

  it('fails a source that goes quiet after the idle timeout (retryable), and a drip past the deadline (not retryable)', async () => {
    const signal = new AbortController().signal;
    const started = Date.now();
    await assert.rejects(local.persistFromUrl({ sourceUrl: `${base}/drip`, key: 'slow/drip.png', signal }), typed(OutputSourceStalledError, (error) => assert.equal(error.limit, 'idle'), true));
    await assert.rejects(local.persistFromUrl({ sourceUrl: `${base}/slow`, key: 'slow/slow.png', signal }), typed(OutputSourceStalledError, (error) => assert.equal(error.limit, 'deadline')));
    assert.ok(Date.now() - started < 15_000, 'both fail within their limits, not after a default timeout');
    assert.ok(await nothingAt('slow/drip.png'));
    assert.ok(await nothingAt('slow/slow.png'));
  });
});

describe('a source that never starts to answer', () => {
  it('is given up after the first-byte timeout, shorter than the idle timeout, as a retryable silence', async () => {
    const signal = new AbortController().signal;
    const patient = makeStore({ downloadIdleTimeoutMs: 20_000, downloadFirstByteTimeoutMs: 300 });
    const started = Date.now();
    await assert.rejects(
      patient.persistFromUrl({ sourceUrl: `${base}/silent`, key: 'slow/silent.png', signal }),
      typed(OutputSourceStalledError, (error) => {
        assert.equal(error.limit, 'idle');
        assert.equal(error.limitMs, 300);
        assert.match(error.message, /no data for 300 ms/);
      }, true),
    );
    assert.ok(Date.now() - started < 10_000, 'not after the 20 s idle timeout');
    assert.ok(await nothingAt('slow/silent.png'));
  });
});

describe('safe content types', () => {
  it('stores a PNG served as text/html as image/png, inline; HTML served as image/png as an attachment', async () => {
    const signal = new AbortController().signal;
    const png = await local.persistFromUrl({ sourceUrl: `${base}/png-as-html`, key: 'types/out.png', signal });
    assert.equal(png.contentType, 'image/png');
    const pngHead = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${keyPrefix}types/out.png` }));
    assert.equal(pngHead.ContentType, 'image/png');
    assert.equal(pngHead.ContentDisposition, undefined);

    const page = await local.persistFromUrl({ sourceUrl: `${base}/page.html`, key: 'types/page.html', signal });
    assert.equal(page.contentType, 'application/octet-stream', 'an image claim the bytes do not back is dropped');
    const pageHead = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `${keyPrefix}types/page.html` }));
    assert.equal(pageHead.ContentDisposition, 'attachment');
  });
});
