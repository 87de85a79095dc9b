/**
 * A Temporal payload codec that encrypts every payload with AES-256-GCM (node:crypto), so workflow
 * history, the Web UI and the `temporal` CLI see only ciphertext: prompts, specs, results, failure
 * details. The whole payload (metadata and data) is serialised and encrypted; the outer payload
 * carries only the encoding marker and the key id. Decoding passes plain payloads through, so
 * histories recorded before encryption was turned on still replay and read.
 *
 * Light on purpose: no @temporalio/worker, no AWS SDK, so the backend's client can load it.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
// CommonJS module: its named exports are reached through the default export under ESM.
import proto from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { PayloadKeyRing } from './payload-keys.js';

/** `encoding` metadata of an encrypted payload (the value Temporal's own samples use). */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
const CIPHER = 'AES-256-GCM';
const { Payload: PayloadMessage } = proto.temporal.api.common.v1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const text = (bytes: Uint8Array | null | undefined): string => (bytes ? Buffer.from(bytes).toString('utf8') : '');

/** A payload could not be decrypted: unknown key id or a failed authentication tag. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keys: PayloadKeyRing) {}

  /** The id of the key new payloads are encrypted with. */
  get currentKeyId(): string {
    return this.keys.current.id;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (text(payload.metadata?.['encoding']) === ENCRYPTED_ENCODING ? this.decrypt(payload) : payload));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.keys.current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    // The key id is authenticated too: a ciphertext cannot be relabelled to another key.
    cipher.setAAD(utf8(id));
    const plain = PayloadMessage.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: utf8(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: utf8(id), [CIPHER_METADATA]: utf8(CIPHER) },
      data: sealed,
    };
  }

  private decrypt(payload: Payload): Payload {
    const id = text(payload.metadata?.[KEY_ID_METADATA]);
    const entry = this.keys.byId.get(id);
    if (!entry) throw new PayloadDecryptionError(`payload encrypted with key "${id.slice(0, 64)}", which is not configured`);
    const sealed = Buffer.from(payload.data ?? new Uint8Array());
    if (sealed.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError('encrypted payload is too short');
    const decipher = createDecipheriv('aes-256-gcm', entry.key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(utf8(id));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(`payload failed authentication with key "${id}"`);
    }
    return PayloadMessage.decode(plain);
  }
}

/** The data converter option for a client or worker: encrypting when keys are configured. */
export function encryptingDataConverter(keys: PayloadKeyRing | undefined): { payloadCodecs: PayloadCodec[] } | undefined {
  return keys ? { payloadCodecs: [new AesGcmPayloadCodec(keys)] } : undefined;
}
