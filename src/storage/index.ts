/**
 * The object store layer: streaming copies into R2/S3 with bounded memory, presigned URLs,
 * deterministic keys. Workflow code imports `output-key.js` directly (it is sandbox-safe); this
 * barrel pulls in Node and the AWS SDK.
 */
export { createObjectStoreClient } from './s3-client.js';
export type { ObjectStoreConfig } from './s3-client.js';
export {
  ObjectStore,
  OBJECT_METADATA_KEYS,
  DEFAULT_STAGING_PREFIX,
  DEFAULT_PRESIGN_TTL_SECONDS,
  DEFAULT_COPY_PART_SIZE_BYTES,
  DEFAULT_MAX_REDIRECTIONS,
  MAX_PRESIGN_TTL_SECONDS,
} from './object-store.js';
export type {
  ObjectStoreOptions,
  StoredObject,
  PersistResult,
  ObjectHead,
  PersistFromUrlInput,
  PutObjectFromStreamInput,
  PutObjectFromFileInput,
  PresignGetOptions,
} from './object-store.js';
export * from './errors.js';
export * from './output-key.js';
export * from './content-type.js';
export * from './memory-budget.js';
export { describeSourceUrl, parseRetryAfterMs } from './source-download.js';
export { PipelineStorage, DEFAULT_INPUT_PRESIGN_TTL_SECONDS } from './inputs.js';
export type { UploadedInput, UploadInputOptions } from './inputs.js';
export { INPUT_KEY_PREFIX, inputKey, sniffMedia } from './input-key.js';
