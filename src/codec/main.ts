/**
 * `npm run codec-server`: serves Temporal's remote codec protocol for the Web UI and the CLI.
 *   CODEC_SERVER_TOKEN   required, ≥ 16 characters (callers send `Authorization: Bearer <token>`)
 *   PAYLOAD_KEYS | PAYLOAD_KEY_FILE   the same keys the workers use
 *   CODEC_SERVER_HOST (127.0.0.1), CODEC_SERVER_PORT (8888), CODEC_CORS_ORIGINS (the Web UI, http://127.0.0.1:8233)
 */
import { AesGcmPayloadCodec } from './aes-gcm-codec.js';
import { startCodecServer } from './codec-server.js';
import { loadPayloadKeys } from './payload-keys.js';

function fail(message: string): never {
  console.error(message);
  process.exit(2);
}

const env = process.env;
const token = env['CODEC_SERVER_TOKEN'] ?? fail('CODEC_SERVER_TOKEN: is required (at least 16 characters)');
let keys;
try {
  keys = loadPayloadKeys({ keys: env['PAYLOAD_KEYS'] || undefined, keyFile: env['PAYLOAD_KEY_FILE'] || undefined });
} catch (error) {
  fail((error as Error).message);
}
if (!keys) fail('PAYLOAD_KEYS or PAYLOAD_KEY_FILE: is required');
const port = Number(env['CODEC_SERVER_PORT'] ?? '8888');
if (!Number.isInteger(port) || port < 0 || port > 65535) fail('CODEC_SERVER_PORT: expected a port number');
const corsOrigins = (env['CODEC_CORS_ORIGINS'] ?? 'http://127.0.0.1:8233,http://localhost:8233').split(',').map((origin) => origin.trim()).filter(Boolean);

const server = await startCodecServer({ codec: new AesGcmPayloadCodec(keys), token, corsOrigins, host: env['CODEC_SERVER_HOST'] ?? '127.0.0.1', port }).catch((error: unknown) => fail(`codec server failed to start: ${(error as Error).message}`));
console.log(`codec server on ${server.url} (POST /encode, /decode; CORS: ${corsOrigins.join(', ')})`);
console.log(`  temporal CLI: --codec-endpoint ${server.url} --codec-auth "Bearer $CODEC_SERVER_TOKEN"`);
console.log(`  Web UI: Data Encoder endpoint ${server.url}/<CODEC_SERVER_TOKEN>`);
const stop = (): void => void server.close().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
