/**
 * The WEBHOOK_* variables: where RunComfy sends a job's events, the secrets that sign and check the
 * per-job token in that URL, and how the receiver serves them. Shared by the worker (which signs
 * URLs and may host the receiver) and the standalone receiver (`npm run webhooks`). Errors name the
 * variable and the reason, never a secret's value.
 */
import { isIP } from 'node:net';
import { z } from 'zod';

const MIB = 1024 * 1024;
/** Each secret keys HMAC-SHA256: 32 characters carry enough entropy when drawn at random. */
export const MIN_WEBHOOK_SECRET_LENGTH = 32;
export const DEFAULT_WEBHOOK_PATH = '/runcomfy/webhook';

const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number({ error: 'expected a number' }).int({ error: 'expected a whole number' }).min(1, { error: 'must be at least 1' }).max(max, { error: `must be at most ${max}` });
const yesNo = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'expected true or false' }).transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Zod fragment spread into the worker's and the receiver's schemas. */
export const webhookEnv = {
  WEBHOOK_PUBLIC_URL: z.string().min(1).optional(),
  WEBHOOK_SECRETS: z.string().min(1).optional(),
  WEBHOOK_PATH: z.string().regex(/^\/[^?#\s]*$/, { error: 'expected an absolute path such as /runcomfy/webhook (no query)' }).default(DEFAULT_WEBHOOK_PATH),
  WEBHOOK_PORT: z.coerce.number({ error: 'expected a port number' }).int().min(0, { error: 'must be 0–65535' }).max(65535, { error: 'must be 0–65535' }).optional(),
  WEBHOOK_HOST: z.string().min(1).default('0.0.0.0'),
  WEBHOOK_ALLOW_HTTP: yesNo.default(false),
  WEBHOOK_BACKSTOP_INTERVAL_MS: positiveInt().default(90_000),
  WEBHOOK_MAX_BODY_BYTES: positiveInt(64 * MIB).default(MIB),
};

export type WebhookEnv = z.output<z.ZodObject<typeof webhookEnv>>;

/** What the receiver needs: the secrets that verify tokens, its path and its body cap. */
export interface WebhookReceiverSettings {
  /** `[0]` signs new URLs; every entry verifies (rotation: new first, old second until old jobs end). */
  secrets: readonly string[];
  path: string;
  maxBodyBytes: number;
}

/** Webhooks as the worker uses them: present only when WEBHOOK_PUBLIC_URL is set. */
export interface WebhookSettings extends WebhookReceiverSettings {
  /** Where RunComfy POSTs, without a query: the token and the job's coordinates are appended. */
  publicUrl: string;
  /** Status reads become a backstop at most this far apart. */
  backstopIntervalMs: number;
  /** When set, the worker also serves the receiver on this port. */
  port?: number;
  host: string;
}

/** Hosts an http:// URL may name under WEBHOOK_ALLOW_HTTP: this machine only. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** Splits WEBHOOK_SECRETS; problems name the entry's position, never its value. */
export function parseWebhookSecrets(text: string, problems: string[]): string[] {
  const secrets = text.split(',').map((entry) => entry.trim());
  secrets.forEach((secret, index) => {
    if (secret.length < MIN_WEBHOOK_SECRET_LENGTH) problems.push(`WEBHOOK_SECRETS: entry ${index + 1} must be at least ${MIN_WEBHOOK_SECRET_LENGTH} characters (make one with: openssl rand -base64 32)`);
  });
  if (new Set(secrets).size !== secrets.length) problems.push('WEBHOOK_SECRETS: an entry appears twice');
  return secrets;
}

function checkPublicUrl(text: string, allowHttp: boolean, problems: string[]): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    problems.push('WEBHOOK_PUBLIC_URL: expected an absolute https URL');
    return undefined;
  }
  if (parsed.search !== '' || parsed.hash !== '' || text.includes('?') || text.includes('#')) {
    problems.push('WEBHOOK_PUBLIC_URL: must not carry a query or fragment (each job adds its own)');
  } else if (parsed.username !== '' || parsed.password !== '') {
    problems.push('WEBHOOK_PUBLIC_URL: must not carry credentials');
  } else if (parsed.protocol === 'http:') {
    if (!allowHttp || !isLoopbackHost(parsed.hostname)) {
      problems.push('WEBHOOK_PUBLIC_URL: must use https (http only for a loopback host with WEBHOOK_ALLOW_HTTP=1, for local tests)');
    }
  } else if (parsed.protocol !== 'https:') {
    problems.push('WEBHOOK_PUBLIC_URL: must use https');
  }
  return problems.length === 0 ? text : undefined;
}

/**
 * Webhook settings from the parsed variables, or undefined when WEBHOOK_PUBLIC_URL is unset (the
 * worker then finds a job's end by polling alone). Pushes a problem per mistake.
 */
export function webhookSettingsFrom(e: WebhookEnv, problems: string[]): WebhookSettings | undefined {
  if (e.WEBHOOK_PUBLIC_URL === undefined) {
    if (e.WEBHOOK_PORT !== undefined) problems.push('WEBHOOK_PORT: needs WEBHOOK_PUBLIC_URL (the address RunComfy reaches this receiver at)');
    return undefined;
  }
  const own: string[] = [];
  const publicUrl = checkPublicUrl(e.WEBHOOK_PUBLIC_URL, e.WEBHOOK_ALLOW_HTTP, own);
  if (e.WEBHOOK_SECRETS === undefined) own.push('WEBHOOK_SECRETS: is required when WEBHOOK_PUBLIC_URL is set');
  const secrets = e.WEBHOOK_SECRETS === undefined ? [] : parseWebhookSecrets(e.WEBHOOK_SECRETS, own);
  problems.push(...own);
  if (own.length > 0 || publicUrl === undefined) return undefined;
  return {
    publicUrl,
    secrets,
    path: e.WEBHOOK_PATH,
    maxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES,
    backstopIntervalMs: e.WEBHOOK_BACKSTOP_INTERVAL_MS,
    host: e.WEBHOOK_HOST,
    ...(e.WEBHOOK_PORT !== undefined ? { port: e.WEBHOOK_PORT } : {}),
  };
}

/** Receiver settings (standalone service): secrets are required, the public URL is not. */
export function webhookReceiverSettingsFrom(e: WebhookEnv, problems: string[]): WebhookReceiverSettings | undefined {
  if (e.WEBHOOK_SECRETS === undefined) {
    problems.push('WEBHOOK_SECRETS: is required (the receiver checks every call against them)');
    return undefined;
  }
  const own: string[] = [];
  const secrets = parseWebhookSecrets(e.WEBHOOK_SECRETS, own);
  problems.push(...own);
  return own.length > 0 ? undefined : { secrets, path: e.WEBHOOK_PATH, maxBodyBytes: e.WEBHOOK_MAX_BODY_BYTES };
}
