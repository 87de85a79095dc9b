import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveContentType } from '../../src/storage/content-type.js';
import { copyMemoryBudgetBytes, effectivePartSizeBytes, MAX_PARTS } from '../../src/storage/memory-budget.js';
import { describeSourceUrl, parseRetryAfterMs } from '../../src/storage/source-download.js';

const MiB = 1024 * 1024;

test('content type: explicit, then an informative source header, then the file extensions, then octet-stream', () => {
  assert.equal(resolveContentType({ explicit: 'image/x-custom', fromSource: 'image/jpeg', filenames: ['a.png'] }), 'image/x-custom');
  assert.equal(resolveContentType({ fromSource: 'image/webp', filenames: ['a.bin'] }), 'image/webp');
  // Servers label everything octet-stream: the name says more.
  assert.equal(resolveContentType({ fromSource: 'application/octet-stream', filenames: ['clip.MP4'] }), 'video/mp4');
  assert.equal(resolveContentType({ fromSource: 'binary/octet-stream', filenames: ['noext', 'voice.wav'] }), 'audio/wav');
  const byExtension: Record<string, string> = {
    'a.png': 'image/png',
    'a.jpg': 'image/jpeg',
    'a.jpeg': 'image/jpeg',
    'a.webp': 'image/webp',
    'a.gif': 'image/gif',
    'a.mp4': 'video/mp4',
    'a.webm': 'video/webm',
    'a.mov': 'video/quicktime',
    'a.wav': 'audio/wav',
    'a.mp3': 'audio/mpeg',
    'a.json': 'application/json',
  };
  for (const [name, type] of Object.entries(byExtension)) assert.equal(resolveContentType({ filenames: [name] }), type, name);
  assert.equal(resolveContentType({ filenames: ['a.unknown', 'b'] }), 'application/octet-stream');
  // A header value with a line break could split headers: it is ignored.
  assert.equal(resolveContentType({ fromSource: 'image/png\r\nx-evil: 1', filenames: ['a.gif'] }), 'image/gif');
  assert.equal(resolveContentType({ explicit: 'not a type', filenames: ['a.gif'] }), 'image/gif');
});

test('the memory budget is partSize × (queueSize + 2) plus stream buffers, independent of object size', () => {
  assert.equal(copyMemoryBudgetBytes({ partSizeBytes: 8 * MiB, queueSize: 4, streamBufferBytes: 0 }), 48 * MiB);
  assert.equal(copyMemoryBudgetBytes({ partSizeBytes: 5 * MiB, queueSize: 1, streamBufferBytes: 256 * 1024 }), 15 * MiB + 256 * 1024);
  // Defaults: 8 MiB parts, 4 in flight, 4 MiB for stream and socket buffers.
  assert.equal(copyMemoryBudgetBytes(), 52 * MiB);
  // The part size grows only when 10,000 parts would not hold the object.
  assert.equal(effectivePartSizeBytes(8 * MiB, 50 * 1024 * MiB), 8 * MiB);
  assert.equal(effectivePartSizeBytes(8 * MiB, undefined), 8 * MiB);
  const huge = 200 * 1024 * MiB;
  const raised = effectivePartSizeBytes(8 * MiB, huge);
  assert.ok(raised * MAX_PARTS >= huge && raised % MiB === 0 && raised < 22 * MiB);
});

test('source URLs appear in messages without query string or credentials', () => {
  assert.equal(describeSourceUrl('https://user:secret@files.example.test/out/a.png?X-Amz-Signature=abc&token=t'), 'https://files.example.test/out/a.png');
  assert.equal(describeSourceUrl('not a url'), '<unparseable URL>');
});

test('Retry-After is read as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfterMs('7'), 7000);
  assert.equal(parseRetryAfterMs(new Date(10_000 + 30_000).toUTCString(), 10_000), 30_000);
  assert.equal(parseRetryAfterMs('soon'), undefined);
  assert.equal(parseRetryAfterMs(undefined), undefined);
});
