/**
 * Signing and verifying the service's callbacks, in the manner of the Standard Webhooks headers:
 * `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,<base64 HMAC-SHA256
 * of "<id>.<timestamp>.<body>">`, several separated by spaces while a secret is being rotated).
 * A secret written `whsec_<base64>` is used as those bytes; any other string as its UTF-8 bytes.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Header names (lower case, as Node's HTTP servers hand them over). */
export const CALLBACK_HEADERS = { id: 'webhook-id', timestamp: 'webhook-timestamp', signature: 'webhook-signature' } as const;

/** Default tolerance between the callback's timestamp and the receiver's clock. */
export const DEFAULT_CALLBACK_TOLERANCE_SECONDS = 300;

function keyOf(secret: string): Buffer {
  if (secret.length === 0) throw new TypeError('the callback secret must not be empty');
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

function signatureOf(key: Buffer, id: string, timestamp: string, body: string | Uint8Array): Buffer {
  const hmac = createHmac('sha256', key);
  hmac.update(`${id}.${timestamp}.`);
  hmac.update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  return hmac.digest();
}

/**
 * The three headers of a callback with this id, time and exact body. With several secrets (a
 * rotation in progress) the signature header carries one signature per secret, space-separated, so
 * a receiver still on the old secret and one already on the new both verify.
 */
export function signCallback(secret: string | readonly string[], message: { id: string; timestampSeconds: number; body: string }): Record<string, string> {
  const timestamp = String(Math.floor(message.timestampSeconds));
  const secrets = typeof secret === 'string' ? [secret] : secret;
  if (secrets.length === 0) throw new TypeError('at least one callback secret is needed');
  return {
    [CALLBACK_HEADERS.id]: message.id,
    [CALLBACK_HEADERS.timestamp]: timestamp,
    [CALLBACK_HEADERS.signature]: secrets.map((one) => `v1,${signatureOf(keyOf(one), message.id, timestamp, message.body).toString('base64')}`).join(' '),
  };
}

/** Why a callback was refused: `code` is stable, the message never repeats the secret. */
export class CallbackVerificationError extends Error {
  override readonly name = 'CallbackVerificationError';
  constructor(
    readonly code: 'missing-header' | 'bad-timestamp' | 'outside-tolerance' | 'bad-signature',
    message: string,
  ) {
    super(message);
  }
}

/** Headers as Node (`IncomingMessage.headers`), Express/NestJS or fetch (`Headers`) hand them over. */
export type CallbackHeaders = Headers | Record<string, string | string[] | undefined>;

function header(headers: CallbackHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const value = record[name] ?? Object.entries(record).find(([key]) => key.toLowerCase() === name)?.[1];
  return Array.isArray(value) ? value[0] : value;
}

/** Options of {@link verifyCallback}. */
export interface VerifyCallbackOptions {
  /** Largest accepted distance between the callback's timestamp and now (default 300 s). */
  toleranceSeconds?: number;
  /** The receiver's clock, for tests (default `Date.now()`). */
  nowMs?: number;
}

/** What a verified callback's headers say. */
export interface VerifiedCallback {
  /** The event id: the same for every delivery of one event, so a receiver can drop duplicates. */
  id: string;
  timestampSeconds: number;
}

/**
 * Checks a callback's signature over the exact raw body (verify before parsing JSON) in constant
 * time, and that its timestamp lies within the tolerance window (replays of old deliveries fail).
 * Returns the event id; throws {@link CallbackVerificationError} otherwise.
 */
export function verifyCallback(secret: string, headers: CallbackHeaders, body: string | Uint8Array, options: VerifyCallbackOptions = {}): VerifiedCallback {
  const id = header(headers, CALLBACK_HEADERS.id);
  const timestamp = header(headers, CALLBACK_HEADERS.timestamp);
  const signatures = header(headers, CALLBACK_HEADERS.signature);
  if (!id || !timestamp || !signatures) throw new CallbackVerificationError('missing-header', `a callback needs the ${Object.values(CALLBACK_HEADERS).join(', ')} headers`);
  if (!/^\d{1,12}$/.test(timestamp)) throw new CallbackVerificationError('bad-timestamp', `${CALLBACK_HEADERS.timestamp} must be Unix seconds`);
  const toleranceSeconds = options.toleranceSeconds ?? DEFAULT_CALLBACK_TOLERANCE_SECONDS;
  const nowSeconds = Math.floor((options.nowMs ?? Date.now()) / 1000);
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) {
    throw new CallbackVerificationError('outside-tolerance', `${CALLBACK_HEADERS.timestamp} is more than ${toleranceSeconds} s away from now`);
  }
  const expected = signatureOf(keyOf(secret), id, timestamp, body);
  let matched = false;
  for (const entry of signatures.split(' ')) {
    const [version, value] = entry.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    // Every candidate is compared (no early exit) so timing says nothing about which one matched.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  if (!matched) throw new CallbackVerificationError('bad-signature', 'the callback signature does not match');
  return { id, timestampSeconds: Number(timestamp) };
}
