import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFailure } from './commands/exec.js';

test('runc\'s start failures become podman\'s statuses and one sentence', () => {
  assert.deepEqual(execFailure('exec: "nope": executable file not found in $PATH', 'web'), { status: 127, message: 'nope: command not found in container web' });
  assert.deepEqual(execFailure('exec: \\"/x/y\\": stat /x/y: no such file or directory', 'web'), { status: 127, message: '/x/y: command not found in container web' });
  assert.equal(execFailure('chdir to cwd ("/nope") set in config.json failed: no such file or directory', 'web').status, 126);
  assert.equal(execFailure('exec: "/etc/passwd": permission denied', 'web').status, 126);
  assert.match(execFailure('something new', 'web').message, /could not be started in container web: something new/);
});
