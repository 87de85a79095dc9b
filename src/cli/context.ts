/** What every command receives: output mode, configuration, Ctrl-C, and lazily opened clients. */
import { ConfigError } from '../config.js';
import { AesGcmPayloadCodec } from '../codec/aes-gcm-codec.js';
import { loadPayloadKeys } from '../codec/payload-keys.js';
import { existsSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PipelineClient } from '../client/index.js';
import type { ClientConfig } from '../config.js';
import { loadRegistryFileSync } from '../pipeline/registry-file.js';
import type { DeploymentRegistry } from '../pipeline/registry.js';

export interface Context {
  json: boolean;
  config: ClientConfig;
  interrupt: AbortSignal;
  /** Lazily connected, closed by `main`. */
  pipelines(): Promise<PipelineClient>;
  registry(required: boolean): DeploymentRegistry | undefined;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export function resolveRegistryPath(path: string): string {
  if (isAbsolute(path) || existsSync(path)) return path;
  // Run from elsewhere (`rcp` on the PATH): fall back on the checkout's own registry.
  const fromRepo = resolve(REPO_ROOT, path);
  return existsSync(fromRepo) ? fromRepo : path;
}

/** The context of one command run; the caller closes the pipeline client it may have opened. */
export function createContext(json: boolean, config: ClientConfig, interrupt: AbortSignal): Context & { close(): Promise<void> } {
  let client: Promise<PipelineClient> | undefined;
  let payloadKeys;
  try {
    payloadKeys = loadPayloadKeys(config.payloadKeys);
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  let registryCache: { value: DeploymentRegistry | undefined } | undefined;
  const ctx: Context & { close(): Promise<void> } = {
    json,
    config,
    interrupt,
    pipelines: () =>
      (client ??= PipelineClient.connect({
        address: config.temporal.address,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        tls: config.temporal.tls,
        ...(config.temporal.apiKey !== undefined ? { apiKey: config.temporal.apiKey } : {}),
        ...(config.store ? { store: config.store } : {}),
        presignTtlSeconds: config.presignTtlSeconds,
        ...(payloadKeys ? { payloadCodec: new AesGcmPayloadCodec(payloadKeys) } : {}),
        ...(ctx.registry(false) ? { registry: ctx.registry(false) } : {}),
      }).catch((error: unknown) => {
        throw new Error(`cannot reach Temporal at ${config.temporal.address}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      })),
    registry: (required) => {
      if (!registryCache) {
        const path = resolveRegistryPath(config.registryPath);
        registryCache = { value: existsSync(path) || required ? loadRegistryFileSync(path) : undefined };
      }
      return registryCache.value;
    },
    close: async () => {
      if (client) await client.then((c) => c.close(), () => undefined);
    },
  };
  return ctx;
}
