/**
 * A tiny HTTP file host standing in for RunComfy's output URLs: deterministic bytes of any size,
 * plus the failure modes a copy must survive (truncation, stalls, error statuses, redirects).
 *
 * Routes (the last path segment is the file name and seeds the bytes):
 *   /bytes/<name>?size=N[&type=T][&chunked=1]   N bytes (Content-Type T; no Content-Length when chunked)
 *   /truncate/<name>?size=N&send=M              announces N, sends M, then waits for `release(name)` and
 *                                               destroys the connection
 *   /stall/<name>?size=N&send=M                 announces N, sends M, then never finishes
 *   /status/<code>[?retryAfter=S]               that status, empty body
 *   /redirect?to=<path>                         302 to the path
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const MEBIBYTE = 1024 * 1024;

/** Deterministic bytes: a fixed pseudo-random MiB, each MiB stamped with its index and the seed. */
export function* deterministicChunks(size: number, seed: string): Generator<Buffer> {
  const base = pseudoRandomMebibyte(seed);
  for (let offset = 0, index = 0; offset < size; offset += MEBIBYTE, index++) {
    const chunk = Buffer.from(base.subarray(0, Math.min(MEBIBYTE, size - offset)));
    // Every MiB differs, so a part written twice or out of order changes the hash.
    if (chunk.length >= 4) chunk.writeUInt32BE(index, 0);
    yield chunk;
  }
}

/** SHA-256 (hex) of `deterministicChunks(size, seed)`. */
export function deterministicSha256(size: number, seed: string): string {
  const hash = createHash('sha256');
  for (const chunk of deterministicChunks(size, seed)) hash.update(chunk);
  return hash.digest('hex');
}

const baseBlocks = new Map<string, Buffer>();
function pseudoRandomMebibyte(seed: string): Buffer {
  let block = baseBlocks.get(seed);
  if (block) return block;
  block = Buffer.alloc(MEBIBYTE);
  // xorshift32 seeded from the seed's hash: fast and the same on every run.
  let state = createHash('sha256').update(seed).digest().readUInt32BE(0) || 1;
  for (let offset = 0; offset < MEBIBYTE; offset += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    block.writeUInt32LE(state >>> 0, offset);
  }
  baseBlocks.set(seed, block);
  return block;
}

export interface SourceServer {
  readonly origin: string;
  url(path: string): string;
  /** GET requests received per path (without query). */
  requestCount(path: string): number;
  /** Lets a /truncate response break its connection. */
  release(name: string): void;
  /** Resolves when the client side of a /stall or /truncate response has gone away. */
  closedByClient(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startSourceServer(): Promise<SourceServer> {
  const counts = new Map<string, number>();
  const releases = new Map<string, () => void>();
  const releasePromises = new Map<string, Promise<void>>();
  const clientCloses = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  const releaseGate = (name: string): Promise<void> => {
    let promise = releasePromises.get(name);
    if (!promise) {
      promise = new Promise<void>((resolve) => releases.set(name, resolve));
      releasePromises.set(name, promise);
    }
    return promise;
  };
  const clientClose = (name: string): { promise: Promise<void>; resolve: () => void } => {
    let entry = clientCloses.get(name);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      entry = { promise, resolve };
      clientCloses.set(name, entry);
    }
    return entry;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://source.test');
    counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    const [, route, name = ''] = url.pathname.split('/');
    const size = Number(url.searchParams.get('size') ?? 0);
    const send = Number(url.searchParams.get('send') ?? 0);
    res.on('close', () => clientClose(name).resolve());

    switch (route) {
      case 'bytes': {
        const headers: Record<string, string> = {};
        const type = url.searchParams.get('type');
        if (type) headers['content-type'] = type;
        if (url.searchParams.get('chunked') !== '1') headers['content-length'] = String(size);
        res.writeHead(200, headers);
        void writeChunks(res, deterministicChunks(size, name)).then(() => res.end());
        return;
      }
      case 'truncate':
      case 'stall': {
        res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
        const chunks = deterministicChunks(size, name);
        void (async () => {
          await writeChunks(res, chunks, send);
          if (route === 'truncate') {
            await releaseGate(name);
            res.socket?.destroy();
          }
        })();
        return;
      }
      case 'status': {
        const retryAfter = url.searchParams.get('retryAfter');
        res.writeHead(Number(name), retryAfter ? { 'retry-after': retryAfter } : {});
        res.end();
        return;
      }
      case 'redirect': {
        res.writeHead(302, { location: url.searchParams.get('to') ?? '/' });
        res.end();
        return;
      }
      default:
        res.writeHead(400).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: (path) => `${origin}${path}`,
    requestCount: (path) => counts.get(path) ?? 0,
    release: (name) => {
      void releaseGate(name);
      releases.get(name)?.();
    },
    closedByClient: (name) => clientClose(name).promise,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Writes chunks with backpressure, stopping after `limitBytes` (all when undefined) or when the client left. */
async function writeChunks(res: ServerResponse, chunks: Iterable<Buffer>, limitBytes?: number): Promise<void> {
  let written = 0;
  for (const chunk of chunks) {
    if (res.destroyed) return;
    const piece = limitBytes === undefined ? chunk : chunk.subarray(0, Math.max(0, limitBytes - written));
    if (piece.length === 0) return;
    written += piece.length;
    if (!res.write(piece)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    if (limitBytes !== undefined && written >= limitBytes) return;
  }
}
