import assert from 'node:assert/strict';
import { test } from 'node:test';
import { terminalSafe, terminalSafeLine } from '../../src/text/terminal-safe.js';

test('escape sequences and control characters never reach the terminal; newlines and tabs do', () => {
  const hostile = [
    'job failed: \u001b[2J\u001b[31mCUDA\u001b[0m out of memory', // clear screen, colours
    '\u001b]0;owned\u0007title', // window title (OSC ... BEL)
    '\u001b]8;;https://evil.example\u001b\\click\u001b]8;;\u001b\\', // hyperlink (OSC 8 ... ST)
    'over\rwrite', // carriage return rewriting the line
    'bell\u0007 back\bspace del\u007f',
    '\u009b31mC1 CSI',
    'bidi \u202eexe.png\u202c',
    'tab\tand\nnewline',
  ];
  const cleaned = hostile.map(terminalSafe);
  assert.deepEqual(cleaned, ['job failed: CUDA out of memory', 'title', 'click', 'over\nwrite', 'bell backspace del', 'C1 CSI', 'bidi exe.png', 'tab\tand\nnewline']);
  // eslint-disable-next-line no-control-regex -- asserting their absence
  for (const text of cleaned) assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  assert.equal(terminalSafeLine('a\nb\tc\u001b[1m'), 'a b c');
});
