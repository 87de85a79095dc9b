/**
 * Worker settings for the backend integration: allowed output key prefixes, callback hosts, a
 * deployment-wide callback URL, the signing secret and the delivery window. Parsed once from the
 * environment; the secret stays in the worker (activities close over it), never in history.
 */
import { z } from 'zod';
import { callbackHostAllowed, callbackUrlProblem } from '../pipeline/integration.js';

/** Settings that may travel to workflows (no secret). */
export interface IntegrationSettings {
  /** OUTPUT_KEY_PREFIXES: a pipeline's outputKeyTemplate must start with one of them (none: templates refused). */
  allowedKeyPrefixes: string[];
  /** CALLBACK_ALLOWED_HOSTS: hosts a spec's callback.url may name. */
  callbackHosts: string[];
  /** CALLBACK_URL: where callbacks go for pipelines that name none. */
  defaultCallbackUrl?: string;
  /** CALLBACK_RETRY_WINDOW_MS: how long one event is retried (5xx, 408, 429, timeouts) before it is recorded undelivered. */
  callbackRetryWindowMs: number;
  /** CALLBACK_TIMEOUT_MS: one delivery attempt's limit. */
  callbackTimeoutMs: number;
  /** True when CALLBACK_SECRET is set: without a secret no callback is sent. */
  callbacksEnabled: boolean;
}

const list = z
  .string()
  .transform((value) => value.split(',').map((entry) => entry.trim()).filter((entry) => entry !== ''));
const ms = (max: number) => z.coerce.number({ error: 'expected a number of milliseconds' }).int({ error: 'expected a whole number' }).min(1, { error: 'must be at least 1' }).max(max, { error: `must be at most ${max}` });

export const integrationEnvSchema = z.object({
  OUTPUT_KEY_PREFIXES: list.optional(),
  CALLBACK_ALLOWED_HOSTS: list.optional(),
  CALLBACK_URL: z.string().refine((value) => callbackUrlProblem(value) === undefined, { error: 'expected an http(s) URL without credentials or fragment' }).optional(),
  // Two secrets separated by a comma while one is being rotated: every delivery is signed with each.
  CALLBACK_SECRET: z
    .string()
    .refine((value) => callbackSecrets(value).length > 0 && callbackSecrets(value).every((secret) => secret.length >= 16), { error: 'must be at least 16 characters (each, when several are separated by commas)' })
    .optional(),
  CALLBACK_RETRY_WINDOW_MS: ms(30 * 24 * 3600_000).default(24 * 3600_000),
  CALLBACK_TIMEOUT_MS: ms(120_000).default(10_000),
});

/** The secrets of a CALLBACK_SECRET value: one, or several separated by commas (rotation). */
export function callbackSecrets(value: string): string[] {
  return value.split(',').map((secret) => secret.trim()).filter((secret) => secret !== '');
}

/** Parses the integration variables; `problems` name the variable and the reason, never a value. */
export function parseIntegrationEnv(env: Readonly<Record<string, string | undefined>>): { settings: IntegrationSettings; callbackSecret?: string; problems: string[] } {
  const parsed = integrationEnvSchema.safeParse(env);
  if (!parsed.success) {
    return { settings: emptyIntegrationSettings(), problems: parsed.error.issues.map((issue) => `${issue.path.join('.') || '(env)'}: ${issue.message}`) };
  }
  const e = parsed.data;
  const callbackHosts = e.CALLBACK_ALLOWED_HOSTS ?? [];
  const problems: string[] = [];
  if (e.CALLBACK_URL && !callbackHostAllowed(e.CALLBACK_URL, callbackHosts)) problems.push('CALLBACK_URL: its host must be listed in CALLBACK_ALLOWED_HOSTS');
  if (e.CALLBACK_URL && !e.CALLBACK_SECRET) problems.push('CALLBACK_SECRET: is required when CALLBACK_URL is set (callbacks are always signed)');
  return {
    settings: {
      allowedKeyPrefixes: e.OUTPUT_KEY_PREFIXES ?? [],
      callbackHosts,
      ...(e.CALLBACK_URL ? { defaultCallbackUrl: e.CALLBACK_URL } : {}),
      callbackRetryWindowMs: e.CALLBACK_RETRY_WINDOW_MS,
      callbackTimeoutMs: e.CALLBACK_TIMEOUT_MS,
      callbacksEnabled: e.CALLBACK_SECRET !== undefined,
    },
    ...(e.CALLBACK_SECRET ? { callbackSecret: e.CALLBACK_SECRET } : {}),
    problems,
  };
}

export function emptyIntegrationSettings(): IntegrationSettings {
  return { allowedKeyPrefixes: [], callbackHosts: [], callbackRetryWindowMs: 24 * 3600_000, callbackTimeoutMs: 10_000, callbacksEnabled: false };
}
