/**
 * The sources an object store writes from (a URL, a stream, a local file), each opened into the same
 * shape: a byte iterable, what to call it in errors, its expected size and type, and how to release it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { AddressPolicy } from '../net/address-guard.js';
import { storedContentType } from './content-sniff.js';
import { resolveContentType } from './content-type.js';
import { SourceSizeMismatchError } from './errors.js';
import { keyBasename } from './output-key.js';
import { classifyTransportError, describeSourceUrl, discardBody, openSource } from './source-download.js';
import { abortedError } from './stream-meter.js';

const FILE_READ_CHUNK_BYTES = 256 * 1024;

export /** Where the bytes of a write come from: the one thing that differs between the three writes. */
type WriteSource =
  | { kind: 'url'; sourceUrl: string; expectedBytes: number | undefined; contentType: string | undefined; fetchDispatcher: Dispatcher | undefined }
  | { kind: 'stream'; body: Readable | AsyncIterable<Uint8Array>; expectedBytes: number | undefined; contentType: string | undefined }
  // A file hashed beforehand: its upload can go straight to the key.
  | { kind: 'file'; path: string; bytes: number; sha256: string; contentType: string };

export interface OpenedSource {
  body: AsyncIterable<Uint8Array>;
  description: string;
  expectedBytes: number | undefined;
  contentType: string;
  classifyReadError: (error: unknown) => Error;
  destroy: () => void;
  /** Downloads: the stored type is settled by the file's first bytes. */
  contentTypeFromHead?: (head: Buffer) => string;
}

/** How downloads are bounded and guarded (see `source-download.ts`). */
export interface DownloadSettings {
  fetchDispatcher: Dispatcher | undefined;
  maxRedirections: number;
  policy: AddressPolicy;
  idleTimeoutMs: number;
  firstByteTimeoutMs: number;
  maxBytes: number;
}

/** Opens one source; whatever it opened is released by `destroy` (idempotent), also when opening fails. */
export async function openWriteSource(
key: string,
source: WriteSource,
signal: AbortSignal | undefined,
download: DownloadSettings,
): Promise<OpenedSource> {
  switch (source.kind) {
    case 'url': {
      const description = describeSourceUrl(source.sourceUrl);
      const dispatcher = source.fetchDispatcher ?? download.fetchDispatcher;
      const opened = await openSource({
        sourceUrl: source.sourceUrl,
        key,
        signal: signal!,
        maxRedirections: download.maxRedirections,
        policy: download.policy,
        idleTimeoutMs: download.idleTimeoutMs,
        firstByteTimeoutMs: download.firstByteTimeoutMs,
        maxBytes: download.maxBytes,
        ...(dispatcher ? { dispatcher } : {}),
      });
      const destroy = (): void => discardBody(opened.body);
      const { announcedBytes } = opened;
      if (source.expectedBytes !== undefined && announcedBytes !== undefined && announcedBytes !== source.expectedBytes) {
        destroy();
        throw new SourceSizeMismatchError({
          message: `${description} announced ${announcedBytes} bytes for "${key}", expected ${source.expectedBytes}`,
          key,
          expectedBytes: source.expectedBytes,
          actualBytes: announcedBytes,
        });
      }
      return {
        body: opened.body,
        description,
        expectedBytes: source.expectedBytes ?? announcedBytes,
        contentType: resolveContentType({ explicit: source.contentType, fromSource: opened.contentType, filenames: [keyBasename(key), urlBasename(source.sourceUrl)] }),
        contentTypeFromHead: (head) => storedContentType({ explicit: source.contentType, head, fromSource: opened.contentType, filenames: [keyBasename(key), urlBasename(source.sourceUrl)] }),
        classifyReadError: (error) => classifyTransportError(error, `reading ${description} for "${key}" failed`, key, download.idleTimeoutMs),
        destroy,
      };
    }
    case 'stream': {
      const { body } = source;
      return {
        body,
        description: 'the stream',
        expectedBytes: source.expectedBytes,
        contentType: resolveContentType({ explicit: source.contentType, filenames: [keyBasename(key)] }),
        classifyReadError: asError,
        destroy: () => {
          if (body instanceof Readable && !body.destroyed) body.destroy();
        },
      };
    }
    case 'file': {
      const file = createReadStream(source.path, { highWaterMark: FILE_READ_CHUNK_BYTES });
      return {
        body: file,
        description: `file ${basename(source.path)}`,
        expectedBytes: source.bytes,
        contentType: source.contentType,
        classifyReadError: asError,
        destroy: () => {
          if (!file.destroyed) file.destroy();
        },
      };
    }
  }
}

export async function hashFile(path: string, key: string, signal: AbortSignal | undefined): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: FILE_READ_CHUNK_BYTES, ...(signal ? { signal } : {}) })) hash.update(chunk as Buffer);
  } catch (error) {
    if (signal?.aborted) throw abortedError(key, signal);
    throw error;
  }
  return hash.digest('hex');
}

function urlBasename(sourceUrl: string): string {
  try {
    return keyBasename(new URL(sourceUrl).pathname);
  } catch {
    return '';
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error('the stream failed', { cause: value });
}
