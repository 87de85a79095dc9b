/**
 * Payload encryption keys: `id:base64key` entries (32-byte AES-256 keys), from `PAYLOAD_KEYS`
 * (comma-separated) or a key file (one entry per line, `#` comments). The first entry encrypts;
 * every entry decrypts, so a key is rotated by putting a new one first and keeping the old ones
 * until no history that uses them is needed. Errors name the entry's position, never its value.
 */
import { readFileSync } from 'node:fs';

/** One key: its id (stored next to every ciphertext) and its 32 bytes. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

/** Keys in order: `[0]` encrypts. */
export interface PayloadKeyRing {
  current: PayloadKey;
  byId: ReadonlyMap<string, PayloadKey>;
}

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses `id:base64key` entries separated by commas or new lines. Throws naming the bad entry's position. */
export function parsePayloadKeys(text: string, source = 'PAYLOAD_KEYS'): PayloadKeyRing {
  const entries = text
    .split(/[\n,]/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => line !== '');
  if (entries.length === 0) throw new Error(`${source}: no keys given`);
  const byId = new Map<string, PayloadKey>();
  const keys = entries.map((entry, index) => {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at);
    const material = at < 0 ? '' : entry.slice(at + 1).trim();
    if (!KEY_ID.test(id)) throw new Error(`${source}: entry ${index + 1} must look like <id>:<base64 key> with an id of letters, digits, '.', '_' or '-'`);
    const key = Buffer.from(material, 'base64');
    if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== material.replace(/=+$/, '')) {
      throw new Error(`${source}: key "${id}" must be 32 bytes in base64 (make one with: openssl rand -base64 32)`);
    }
    if (byId.has(id)) throw new Error(`${source}: key id "${id}" appears twice`);
    const parsed = { id, key };
    byId.set(id, parsed);
    return parsed;
  });
  return { current: keys[0]!, byId };
}

/** Keys from the settings, or undefined when none are configured (payloads stay plain). */
export function loadPayloadKeys(settings: { keys?: string | undefined; keyFile?: string | undefined }): PayloadKeyRing | undefined {
  if (settings.keys !== undefined && settings.keyFile !== undefined) throw new Error('PAYLOAD_KEYS and PAYLOAD_KEY_FILE: set one, not both');
  if (settings.keys !== undefined) return parsePayloadKeys(settings.keys);
  if (settings.keyFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(settings.keyFile, 'utf8');
    } catch (error) {
      throw new Error(`PAYLOAD_KEY_FILE: cannot read the key file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    return parsePayloadKeys(text, 'PAYLOAD_KEY_FILE');
  }
  return undefined;
}
