/**
 * Payload encryption for the demo and other local runs: keys (the caller's PAYLOAD_KEYS, or a
 * fresh random key for this run), the codec, and a codec server on 127.0.0.1 whose token-bearing
 * endpoint the dev server's Web UI is started with (`--ui-codec-endpoint`), so the UI shows
 * decoded payloads while history itself holds only ciphertext.
 */
import { randomBytes } from 'node:crypto';
import { AesGcmPayloadCodec } from './aes-gcm-codec.js';
import { startCodecServer, type RunningCodecServer } from './codec-server.js';
import { parsePayloadKeys } from './payload-keys.js';

export interface LocalEncryption {
  /** `PAYLOAD_KEYS` value for workers and clients. */
  keys: string;
  codec: AesGcmPayloadCodec;
  server: RunningCodecServer;
  token: string;
  /** For the Web UI, which cannot send an Authorization header: the token leads the path. */
  uiCodecEndpoint: string;
  /** How to read payloads: Web UI and `temporal` CLI lines. */
  describe(p: { temporalAddress: string; namespace: string; workflowId: string; uiUrl?: string | undefined }): string[];
  close(): Promise<void>;
}

/** Loopback origins only: the local Web UI's port is picked when it starts. */
function loopbackOrigin(origin: string): boolean {
  return /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/.test(origin);
}

export async function startLocalEncryption(existingKeys?: string): Promise<LocalEncryption> {
  const keys = existingKeys ?? `local-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}`;
  const codec = new AesGcmPayloadCodec(parsePayloadKeys(keys));
  const token = randomBytes(24).toString('hex');
  const server = await startCodecServer({ codec, token, corsOrigins: loopbackOrigin });
  const uiCodecEndpoint = `${server.url}/${token}`;
  return {
    keys,
    codec,
    server,
    token,
    uiCodecEndpoint,
    describe: ({ temporalAddress, namespace, workflowId, uiUrl }) => [
      `Payloads are encrypted (AES-256-GCM, key "${codec.currentKeyId}"): history holds only ciphertext.`,
      `  codec server  ${server.url}  (POST /encode, /decode; token ${token})`,
      uiUrl
        ? `  Web UI        ${uiUrl} decodes through it (started with --ui-codec-endpoint ${uiCodecEndpoint})`
        : `  Web UI        set the codec endpoint to ${uiCodecEndpoint} (Settings → Codec Server)`,
      `  temporal CLI  temporal workflow show -w ${workflowId} --address ${temporalAddress} --namespace ${namespace} \\`,
      `                  --codec-endpoint ${server.url} --codec-auth "Bearer ${token}"`,
    ],
    close: () => server.close(),
  };
}
