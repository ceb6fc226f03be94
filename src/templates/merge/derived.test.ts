// Unit: the derived-files table: its capture excludes, and the script that recomputes them,
// run by /bin/sh against stand-in programs in a scratch directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileExcludes } from '../capture/glob.js';
import { DERIVED_FILES, derivedExcludes, regenerationScript, type DerivedFile } from './derived.js';

test('captures leave out every derived file, and nothing the packages own', () => {
  const excluded = compileExcludes(derivedExcludes());
  for (const path of ['/etc/ld.so.cache', '/etc/pam.d/common-session', '/var/lib/pam/seen', '/usr/share/mime/mime.cache', '/usr/share/mime/text/plain.xml', '/usr/share/icons/hicolor/icon-theme.cache', '/var/lib/systemd/catalog/database', '/etc/ssh/ssh_host_ed25519_key.pub', '/etc/ssl/private/ssl-cert-snakeoil.key']) {
    assert.ok(excluded(path), path);
  }
  for (const path of ['/etc/pam.d/sshd', '/usr/share/mime/packages/freedesktop.org.xml', '/usr/share/icons/hicolor/index.theme', '/etc/ld.so.conf.d/x.conf', '/etc/ssl/certs/ca-certificates.crt.d', '/etc/ssh/sshd_config']) {
    assert.ok(!excluded(path), path);
  }
  assert.ok(DERIVED_FILES.every((d) => d.program.startsWith('/')));
});

test('the script runs what the container has, skips what it lacks, and names what failed', () => {
  const dir = mkdtempSync('/tmp/strata-test-derived-');
  try {
    const tool = (name: string, body: string): string => {
      const path = join(dir, name);
      writeFileSync(path, `#!/bin/sh\n${body}\n`);
      chmodSync(path, 0o755);
      return path;
    };
    const table: DerivedFile[] = [
      { what: 'the good cache', paths: [], program: tool('good', `echo ran >> ${dir}/log`), command: `${dir}/good` },
      { what: 'the absent cache', paths: [], program: join(dir, 'absent'), command: `echo should-not-run >> ${dir}/log` },
      { what: "the bad cache's", paths: [], program: tool('bad', 'exit 3'), command: `${dir}/bad` },
      { what: 'the last cache', paths: [], program: tool('last', `echo last >> ${dir}/log`), command: `${dir}/last` },
    ];
    const r = spawnSync('/bin/sh', ['-c', regenerationScript(table)]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr.toString().trim(), "could not recompute the bad cache's");
    assert.equal(readFileSync(join(dir, 'log'), 'utf8'), 'ran\nlast\n', 'it went on past the failure and skipped the absent program');
    assert.equal(spawnSync('/bin/sh', ['-c', regenerationScript(table.slice(0, 2))]).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
