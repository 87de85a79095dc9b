import { S3Client } from '@aws-sdk/client-s3';

/** Where outputs are kept: Cloudflare R2 in production, a local S3 server in tests and the demo. */
export interface ObjectStoreConfig {
  /** e.g. https://<account>.r2.cloudflarestorage.com, or http://127.0.0.1:PORT locally. */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** R2 takes `auto`. */
  region?: string;
  /** Local servers need path-style URLs; R2 accepts both. */
  forcePathStyle?: boolean;
  /** Upper bound on sockets to the store. */
  maxSockets?: number;
}

/**
 * An S3 client with the settings R2 needs: region `auto`, and checksums only when an operation
 * requires them (R2 rejects the SDK's default aws-chunked checksum framing on uploads).
 */
export function createObjectStoreClient(config: ObjectStoreConfig): S3Client {
  return new S3Client({
    region: config.region ?? 'auto',
    endpoint: config.endpoint,
    forcePathStyle: config.forcePathStyle ?? true,
    credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    // The SDK's own retries stay on (3 attempts): they cover single HTTP hiccups inside one
    // activity attempt; whole-copy retries belong to Temporal.
    maxAttempts: 3,
    // Each copy keeps `queueSize` part uploads in flight: the pool must hold all running copies.
    ...(config.maxSockets === undefined
      ? {}
      : { requestHandler: { httpAgent: { keepAlive: true, maxSockets: config.maxSockets }, httpsAgent: { keepAlive: true, maxSockets: config.maxSockets } } }),
  });
}

/**
 * Whether part uploads may skip SigV4's payload hash (`x-amz-content-sha256: UNSIGNED-PAYLOAD`):
 * yes over https, where TLS already protects the bytes in transit, and to a loopback address, where
 * they never cross a network; no over plain http to anything else, where the signed hash is the
 * only check that the server received the bytes that were sent. See docs/security.md.
 */
export function partPayloadMayBeUnsigned(endpoint: string): boolean {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** {@link partPayloadMayBeUnsigned} for a client's endpoint; none configured means the SDK's own, https. */
export async function unsignedPartsAllowed(client: S3Client): Promise<boolean> {
  const endpoint = client.config.endpoint ? await client.config.endpoint() : undefined;
  return endpoint === undefined ? true : partPayloadMayBeUnsigned(`${endpoint.protocol}//${endpoint.hostname}`);
}

/**
 * Makes one command (an UploadPart) send `UNSIGNED-PAYLOAD` instead of the SHA-256 of its body:
 * the signer uses a payload hash header that is already set instead of hashing the body, a second
 * SHA-256 pass over every byte of a copy whose SHA-256 the store computes anyway.
 */
export function withUnsignedPayload<C extends { middlewareStack: { add: (...args: never[]) => void } }>(command: C): C {
  (command.middlewareStack as unknown as UnsignedPayloadStack).add(
    (next) => async (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'rcpUnsignedPartPayload' },
  );
  return command;
}

type UnsignedPayloadHandler = (args: { request: unknown }) => Promise<unknown>;
interface UnsignedPayloadStack {
  add(middleware: (next: UnsignedPayloadHandler) => UnsignedPayloadHandler, options: { step: 'build'; name: string }): void;
}
