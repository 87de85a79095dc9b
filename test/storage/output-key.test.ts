import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { InvalidObjectKeyError } from '../../src/storage/errors.js';
import { deterministicOutputKey, encodeKeySegment, MAX_KEY_SEGMENT_CHARS } from '../../src/storage/output-key.js';

const base = { pipelineId: 'pl-42', stepId: 't2i', nodeId: '9' };

test('an output key is pipelines/<pipeline>/<step>/<node>/<file>, with an attempt folder when given', () => {
  assert.equal(deterministicOutputKey({ ...base, filename: 'ComfyUI_00001_.png' }), 'pipelines/pl-42/t2i/9/ComfyUI_00001_.png');
  assert.equal(deterministicOutputKey({ ...base, filename: 'ComfyUI_00001_.png', attempt: 2 }), 'pipelines/pl-42/t2i/attempt-2/9/ComfyUI_00001_.png');
  // Deterministic: same parts, same key.
  assert.equal(deterministicOutputKey({ ...base, filename: 'a b.mp4' }), deterministicOutputKey({ ...base, filename: 'a b.mp4' }));
  assert.equal(deterministicOutputKey({ ...base, pipelineId: 'user:7/run', filename: 'x.png' }), 'pipelines/user:7%2Frun/t2i/9/x.png');
});

test('remote file names cannot leave their folder', () => {
  const hostile = ['..', '.', '../../etc/passwd', '/abs/path.png', 'sub/dir/file.png', '..\\..\\win.png', '%2e%2e', 'a/../../b'];
  for (const filename of hostile) {
    const key = deterministicOutputKey({ ...base, filename });
    const segments = key.split('/');
    assert.equal(segments.length, 5, `${filename} must stay one segment: ${key}`);
    assert.deepEqual(segments.slice(0, 4), ['pipelines', 'pl-42', 't2i', '9']);
    const last = segments[4]!;
    assert.ok(last !== '.' && last !== '..', `${filename} became a dot segment`);
    assert.match(last, /^[A-Za-z0-9._:%-]+$/, `${filename} → ${last}`);
    assert.ok(!last.includes('\\'));
  }
  assert.equal(encodeKeySegment('..'), '%2E%2E');
  assert.equal(encodeKeySegment('.'), '%2E');
  assert.equal(encodeKeySegment('../x'), '..%2Fx');
});

test('the encoding is injective: distinct names never share a key', () => {
  const names = ['a b', 'a%20b', 'a+b', 'a/b', 'a%2Fb', 'A b', 'é.png', 'e\u0301.png', '..', '%2E%2E', '~', '%7E'];
  const encoded = names.map((name) => encodeKeySegment(name));
  assert.equal(new Set(encoded).size, names.length, encoded.join(' | '));
});

test('non-ASCII, control characters and lone surrogates are percent-encoded as UTF-8', () => {
  assert.equal(encodeKeySegment('café.png'), 'caf%C3%A9.png');
  assert.equal(encodeKeySegment('line\nbreak\u0000.png'), 'line%0Abreak%00.png');
  assert.equal(encodeKeySegment('bad\ud800.png'), 'bad%EF%BF%BD.png');
  assert.equal(encodeKeySegment("it's (1)!*~.png"), 'it%27s%20%281%29%21%2A%7E.png');
});

test('over-long names are shortened with a hash, keep their extension and stay distinct', () => {
  const long1 = `${'x'.repeat(500)}-one.mp4`;
  const long2 = `${'x'.repeat(500)}-two.mp4`;
  const a = encodeKeySegment(long1);
  const b = encodeKeySegment(long2);
  assert.ok(a.length <= MAX_KEY_SEGMENT_CHARS && b.length <= MAX_KEY_SEGMENT_CHARS);
  assert.notEqual(a, b);
  assert.match(a, /~[0-9a-f]{16}\.mp4$/);
  // A cut never splits a %XX escape.
  const escaped = encodeKeySegment('é'.repeat(300));
  assert.match(escaped, /^(%C3%A9)+~[0-9a-f]{16}$/);
});

test('empty parts and bad attempts are typed errors', () => {
  assert.throws(() => deterministicOutputKey({ ...base, filename: '' }), InvalidObjectKeyError);
  assert.throws(() => deterministicOutputKey({ ...base, nodeId: '', filename: 'a.png' }), (error: unknown) => {
    assert.ok(error instanceof InvalidObjectKeyError);
    assert.equal(error.code, 'INVALID_OBJECT_KEY');
    assert.equal(error.retryable, false);
    return true;
  });
  for (const attempt of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => deterministicOutputKey({ ...base, filename: 'a.png', attempt }), InvalidObjectKeyError);
  }
});

test('the key module is sandbox-safe: it imports no Node builtins or I/O libraries', () => {
  for (const file of ['output-key.ts', 'errors.ts', 'content-type.ts']) {
    const source = readFileSync(new URL(`../../src/storage/${file}`, import.meta.url), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((match) => match[1]!);
    for (const specifier of imports) assert.ok(specifier.startsWith('./') || specifier === '../contract/media-types.js', `${file} imports ${specifier}`);
  }
});
