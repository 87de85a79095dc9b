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
