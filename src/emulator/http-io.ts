import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError, ERROR_CODES, validationError } from './errors.js';

/** Reads the whole request body, refusing more than `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        reject(new ApiError(413, ERROR_CODES.payloadTooLarge, `Request body larger than ${maxBytes} bytes`));
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a JSON request body; an empty body reads as `{}`. Malformed JSON is a 422 like RunComfy's schema errors. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const raw = await readBody(req, maxBytes);
  if (raw.length === 0) return {};
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch (error) {
    throw validationError('Request body is not valid JSON', [{ loc: ['body'], msg: (error as Error).message, type: 'json_invalid' }]);
  }
}

/** Sends a JSON response with Content-Length (keeps keep-alive connections reusable). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Parses a query string into a map of lists (repeated keys such as `ids` keep every value). */
export function parseQuery(query: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  if (query.length === 0) return values;
  for (const [key, value] of new URLSearchParams(query)) {
    const list = values.get(key);
    if (list) list.push(value);
    else values.set(key, [value]);
  }
  return values;
}
