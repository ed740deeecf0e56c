// Unit tests of the document checks, run natively: node --test plugins/health-check/tests/
// (document.js imports nothing from the WIT world, so it runs outside the component).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_TIMEOUT_SECS, DocumentError, MAX_CHECKS, describe, parse } from '../document.js';

const doc = (checks, extra = {}) => JSON.stringify({ operation: 'health-check', checks, ...extra });

test('a valid document gets its defaults', () => {
  const checks = parse(doc([
    { type: 'file-exists', path: '/status/ready' },
    { type: 'file-contains', path: '/status/version', text: '1.2' },
    { type: 'command', program: '/usr/bin/myapp-check' },
  ]));
  assert.deepEqual(checks[2], {
    type: 'command', program: '/usr/bin/myapp-check', args: [], timeoutSecs: DEFAULT_TIMEOUT_SECS,
  });
  assert.equal(describe(checks[0]), 'file-exists /status/ready');
  assert.equal(describe(checks[2]), 'command /usr/bin/myapp-check');
});

test('every problem is named at once', () => {
  assert.throws(() => parse(doc([
    { type: 'file-exist', path: '/a' },
    { type: 'file-contains', path: 'rel/path', text: '' },
    { type: 'command', program: '', args: ['ok', 2], timeoutSecs: 1.5, shell: true },
    'not an object',
  ], { extra: 1 })), (e) => {
    assert.ok(e instanceof DocumentError);
    assert.deepEqual(e.problems, [
      'unknown field "extra"',
      'checks[0]: type must be one of file-exists, file-contains, command, not "file-exist"',
      'checks[1]: path must be an absolute path, not "rel/path"',
      'checks[1]: text must be 1-1024 characters of text, not ""',
      'checks[2]: unknown field "shell" for type command',
      'checks[2]: program must be a program name or absolute path, not ""',
      'checks[2]: args must be a list of strings, not ["ok",2]',
      'checks[2]: timeoutSecs must be an integer 1..3600, not 1.5',
      'checks[3]: must be an object, not "not an object"',
    ]);
    assert.match(e.message, /^invalid document \(9 problems\): unknown field "extra"; /);
    return true;
  });
});

test('paths must not climb out with ..', () => {
  assert.throws(() => parse(doc([{ type: 'file-exists', path: '/status/../etc/passwd' }])),
    /checks\[0\]: path "\/status\/..\/etc\/passwd" must not contain ".."/);
});

test('checks must be a non-empty, bounded list', () => {
  for (const checks of [undefined, [], {}, Array(MAX_CHECKS + 1).fill({ type: 'file-exists', path: '/a' })]) {
    assert.throws(() => parse(doc(checks)), /checks must be a list of 1-32 checks/);
  }
  assert.throws(() => parse('[1]'), /the document must be a JSON object/);
  assert.throws(() => parse('{'), /the document is not JSON/);
});
