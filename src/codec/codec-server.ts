/**
 * A codec server (Temporal's remote codec protocol) so people holding the token can read encrypted
 * payloads in the Web UI and the `temporal` CLI:
 *   POST /encode, POST /decode   body and answer: `{"payloads":[{"metadata":{k: base64},"data": base64}]}`
 * Auth: `Authorization: Bearer <token>` (the CLI: `--codec-auth "Bearer <token>"`). The Web UI
 * cannot add that header to its codec calls, so the same token may instead lead the path:
 * `http://host:port/<token>` as the UI's codec endpoint. CORS answers only the configured origins
 * (the Web UI's); preflights need no token. Requests are capped in size; errors say nothing about
 * keys or payloads.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import { timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Bearer token every /encode and /decode call must present (at least 16 characters). */
  token: string;
  /** Origins allowed to call from a browser, e.g. `http://127.0.0.1:8233` (the Web UI), or a test of them. */
  corsOrigins: readonly string[] | ((origin: string) => boolean);
  host?: string;
  port?: number;
  /** Largest request body (default 8 MiB). */
  maxBodyBytes?: number;
}

export interface RunningCodecServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function fromJson(payload: JsonPayload): Payload {
  if (typeof payload !== 'object' || payload === null) throw new HttpError(400, 'each payload must be an object');
  const metadata: Record<string, Uint8Array> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) {
    if (typeof value !== 'string') throw new HttpError(400, 'metadata values must be base64 strings');
    metadata[key] = Buffer.from(value, 'base64');
  }
  if (payload.data !== undefined && typeof payload.data !== 'string') throw new HttpError(400, 'data must be a base64 string');
  return { metadata, data: Buffer.from(payload.data ?? '', 'base64') };
}

function toJson(payload: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata ?? {})) metadata[key] = Buffer.from(value ?? new Uint8Array()).toString('base64');
  return { metadata, data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64') };
}

function tokenMatches(presented: string | undefined, expected: Buffer): boolean {
  if (presented === undefined) return false;
  const bytes = Buffer.from(presented);
  return bytes.length === expected.length && timingSafeEqual(bytes, expected);
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) throw new HttpError(413, `request body over ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Starts the codec server; resolves once it listens (default 127.0.0.1, a free port). */
export async function startCodecServer(options: CodecServerOptions): Promise<RunningCodecServer> {
  if (options.token.length < 16) throw new Error('the codec server token must be at least 16 characters');
  const expected = Buffer.from(options.token);
  const corsOrigins = options.corsOrigins;
  const allowOrigin = typeof corsOrigins === 'function' ? corsOrigins : (origin: string): boolean => corsOrigins.includes(origin);
  const maxBodyBytes = options.maxBodyBytes ?? 8 * 1024 * 1024;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const origin = req.headers.origin;
    if (origin !== undefined && allowOrigin(origin)) {
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Origin');
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('access-control-allow-methods', 'POST, OPTIONS');
      res.setHeader('access-control-allow-headers', 'authorization, content-type, x-namespace');
      res.setHeader('access-control-max-age', '600');
      res.writeHead(204).end();
      return;
    }
    let path: string[];
    let pathToken: string | undefined;
    try {
      path = new URL(req.url ?? '/', 'http://codec').pathname.split('/').filter((segment) => segment !== '');
      pathToken = path.length === 2 ? decodeURIComponent(path[0]!) : undefined;
    } catch {
      // A target that does not parse, or a token with a broken %-escape: the caller's mistake, not ours.
      throw new HttpError(400, 'bad request target');
    }
    const operation = path.at(-1);
    if (path.length > 2 || (operation !== 'encode' && operation !== 'decode')) throw new HttpError(404, 'not found: POST /encode or /decode');
    if (req.method !== 'POST') throw new HttpError(405, 'use POST');
    const bearer = /^bearer\s+(.+)$/i.exec(req.headers.authorization?.trim() ?? '')?.[1];
    if (!tokenMatches(bearer, expected) && !tokenMatches(pathToken, expected)) throw new HttpError(401, 'a valid bearer token is required');

    let body: { payloads?: unknown };
    try {
      body = JSON.parse((await readBody(req, maxBodyBytes)).toString('utf8')) as { payloads?: unknown };
    } catch (error) {
      if (error instanceof HttpError) throw error;
      throw new HttpError(400, 'the body must be JSON');
    }
    if (!Array.isArray(body?.payloads)) throw new HttpError(400, 'the body must be {"payloads": [...]}');
    const payloads = (body.payloads as JsonPayload[]).map(fromJson);
    let result: Payload[];
    try {
      result = operation === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
    } catch {
      throw new HttpError(422, `could not ${operation} the payloads`);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ payloads: result.map(toJson) }));
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: error instanceof HttpError ? error.message : 'internal error' }));
      // Drain nothing more from a refused request.
      if (!req.complete) req.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === undefined || options.host === '0.0.0.0' ? '127.0.0.1' : options.host;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
