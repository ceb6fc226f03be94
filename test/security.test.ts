// Integration: no unprivileged host user gains anything through Strata's files (docs/security.md).
// A set-user-id-root probe and a copy with cap_dac_read_search travel in an imported application
// template; every set-user-id, set-group-id and capability file under the data root and the
// runtime directory is then run by path as a fresh host uid, and must gain nothing. Inside the
// containers the same files, su and ping keep working.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, sharedDebian, sleep, useDaemon, useScratchDir } from './harness.js';

const PROBE_C = `
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--setcap") == 0) {
    unsigned char v[20] = {1, 0, 0, 2, 4, 0, 0, 0}; /* v2, effective, permitted: CAP_DAC_READ_SEARCH */
    if (setxattr(argv[2], "security.capability", v, sizeof v, 0) != 0) { perror("setxattr"); return 1; }
    return 0;
  }
  int fd = open(argc > 1 ? argv[1] : "/etc/shadow", O_RDONLY);
  printf("uid=%d euid=%d gid=%d egid=%d shadow=%s\\n", getuid(), geteuid(), getgid(), getegid(), fd >= 0 ? "readable" : "denied");
  return 0;
}
`;

/** A host uid no one has: no passwd entry, below every container range (2^24). */
const USER = 3_000_000 + Math.floor(Math.random() * 1_000_000);

/** Runs `argv` as USER: setpriv drops to it, then a plain shell (holding no capability) does the exec by path. */
function asUser(argv: string[]): { status: number | null; out: string } {
  const r = spawnSync('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--clear-groups', '--', '/bin/sh', '-c', 'exec "$@"', 'sh', ...argv], { encoding: 'utf8', timeout: 10_000, input: '' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Every set-user-id, set-group-id and file-capability file under `dirs`, mounts included. */
function privileged(dirs: string[]): string[] {
  const suid = spawnSync('find', [...dirs, '-type', 'f', '(', '-perm', '-4000', '-o', '-perm', '-2000', ')', '-print0'], { encoding: 'utf8' }).stdout.split('\0').filter(Boolean);
  const caps = spawnSync('getcap', ['-r', ...dirs], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((l) => l.replace(/ [^ ]+(?: \[rootid=\d+\])?$/, ''));
  return [...new Set([...suid, ...caps])].sort();
}

/** Runs each file by path as USER: each must fail to run, or (a probe) report USER's ids and no shadow. */
function assertNoGain(files: string[]): void {
  const clean = new RegExp(`^uid=${USER} euid=${USER} gid=${USER} egid=${USER} shadow=denied$`, 'm');
  for (const file of files) {
    const r = asUser([file]);
    assert.ok(/Permission denied/.test(r.out) || clean.test(r.out), `${file} run by host uid ${USER}: ${r.out.slice(0, 300)}`);
    assert.doesNotMatch(r.out, /euid=0|shadow=readable/, file);
  }
}

/** Builds the probe and the installer that puts it (set-user-id root, and with a capability) and ping into a capture. */
function installer(work: string, extra = ''): string {
  const probe = join(work, 'probe');
  const cc = spawnSync('cc', ['-O2', '-o', probe, '-x', 'c', '-'], { input: PROBE_C, encoding: 'utf8' });
  assert.equal(cc.status, 0, cc.stderr);
  const debs = join(work, 'debs');
  mkdirSync(debs, { recursive: true });
  const dl = spawnSync('apt-get', ['download', 'iputils-ping', 'libcap2-bin'], { cwd: debs, encoding: 'utf8' });
  assert.equal(dl.status, 0, `apt-get download: ${dl.stderr}`);
  const b64 = (file: string): string => readFileSync(file).toString('base64').replace(/.{76}/g, '$&\n');
  const script = join(work, 'install.sh');
  writeFileSync(script, [
    'set -e',
    ...readdirSync(debs).map((deb, i) => `base64 -d > /tmp/strata-${i}.deb <<'EOF'\n${b64(join(debs, deb))}\nEOF`),
    `base64 -d > /usr/local/bin/strata-probe-suid <<'EOF'\n${b64(probe)}\nEOF`,
    'dpkg -i /tmp/strata-*.deb && rm /tmp/strata-*.deb',
    'chmod 4755 /usr/local/bin/strata-probe-suid',
    'install -m 2755 -g shadow /usr/local/bin/strata-probe-suid /usr/local/bin/strata-probe-sgid',
    'install -m 0755 /usr/local/bin/strata-probe-suid /usr/local/bin/strata-probe-cap',
    '/usr/local/bin/strata-probe-suid --setcap /usr/local/bin/strata-probe-cap',
    extra,
  ].join('\n'));
  return script;
}

describe('host users gain nothing through Strata\'s files', () => {
  const d = useDaemon();
  const work = useScratchDir('strata-test-sec-');
  const appFile = join(work, 'probe.strata');
  before(async () => {
    await sharedDebian(d, 'deb');
    // Captured, exported, removed and imported again: the template arrives as an untrusted file.
    await d.ok('template', 'capture', 'probe-src', '--base', 'deb', '--script', installer(work));
    await d.ok('template', 'export', 'probe-src', '-o', appFile);
    await d.ok('template', 'rm', 'probe-src');
    await d.ok('template', 'import', appFile, '--name', 'probe');
  });

  test('a running container, a live attach and a capture in progress: every privileged file gains nothing', { timeout: 10 * 60_000 }, async () => {
    await d.ok('create', 'sa', '--template', 'deb', '--no-net', '--app', 'probe');
    await d.ok('start', 'sa');
    await d.ok('create', 'sb', '--template', 'deb', '--no-net');
    await d.ok('start', 'sb');
    await d.ok('attach', 'sb', 'probe');
    // A capture that waits, with its own set-user-id copy in the scratch container's private area.
    const wait = join(work, 'wait.sh');
    writeFileSync(wait, 'install -D -m 4755 /usr/local/bin/strata-probe-suid /opt/strata/probe\ntouch /tmp/strata-ready\nfor i in $(seq 600); do [ -e /tmp/strata-go ] && exit 0; sleep 0.2; done\nexit 1\n');
    const capture = runCli(d.socket, ['template', 'capture', 'pending', '--base', 'deb', '--base', 'probe', '--script', wait]);
    let scratch = '';
    for (let i = 0; i < 300 && !scratch; i++) {
      scratch = readdirSync(join(d.root, 'containers')).find((c) => c.startsWith('capture-') && existsSync(join(d.root, 'containers', c, 'private/root/tmp/strata-ready'))) ?? '';
      if (!scratch) await sleep(200);
    }
    assert.ok(scratch, 'the capture reached its wait');
    // A running container's merged root is no host mount: it is reached through its init.
    const saRoot = (await d.json<{ rootfs: string }>('inspect', 'sa')).rootfs;
    try {
      const files = privileged([d.root, d.paths.run, join(saRoot, 'usr')]);
      const rel = files.map((f) => (f.startsWith(saRoot) ? `sa:${f.slice(saRoot.length)}` : f.slice(d.root.length + 1)));
      for (const want of [
        'templates/deb/rootfs/usr/bin/su', // the OS template's own
        'templates/probe/v1/tree/usr/local/bin/strata-probe-suid', // the imported application template
        'templates/probe/v1/tree/usr/local/bin/strata-probe-sgid',
        'templates/probe/v1/tree/usr/local/bin/strata-probe-cap',
        'templates/probe/v1/tree/usr/bin/ping',
        'sa:usr/bin/su', // a running container's merged root
        'sa:usr/local/bin/strata-probe-suid',
        'sa:usr/local/bin/strata-probe-cap',
        'containers/sb/private/root/usr/local/bin/strata-probe-suid', // a live attach's copies
        'containers/sb/private/root/usr/local/bin/strata-probe-cap',
        `containers/${scratch}/private/root/opt/strata/probe`, // a capture in progress
      ]) assert.ok(rel.includes(want), `${want} was found (${rel.length} files found)`);
      assert.ok(rel.some((f) => f.startsWith('store/objects/')), 'the content store\'s objects were found');
      assertNoGain(files);
      // Nor can the user read what is there, list it, or read console logs and the database.
      for (const path of [join(saRoot, 'etc/shadow'), ...['containers/sa/console.log', 'containers/sb/private/root/etc/passwd', 'templates/deb/rootfs/etc/shadow', 'strata.db'].map((p) => join(d.root, p))]) {
        const r = asUser(['cat', path]);
        assert.notEqual(r.status, 0, `${path} was readable`);
        assert.match(r.out, /Permission denied/);
      }
      for (const dir of ['', 'containers', 'templates', 'store', 'containers/sa']) assert.notEqual(asUser(['ls', join(d.root, dir)]).status, 0, `${dir || 'the data root'} could be listed`);
      assert.notEqual(asUser(['ls', d.paths.run]).status, 0, 'the runtime directory could be listed');
      // The host's own /etc/shadow stays shut through each probe, also run from a copy the user could make.
      assert.match(asUser(['/bin/cat', '/etc/shadow']).out, /Permission denied/);
    } finally {
      // Through the merged root: overlayfs would not see a file put behind its back into the private area.
      writeFileSync(join((await d.json<{ rootfs: string }>('inspect', scratch)).rootfs, 'tmp/strata-go'), '');
      const r = await capture;
      assert.equal(r.status, 0, r.stderr);
    }
    const modes = (p: string): string => spawnSync('stat', ['-c', '%a %u:%g', join(d.root, p)], { encoding: 'utf8' }).stdout.trim();
    const base = (await d.json<{ idMap: { hostBase: number } }>('inspect', 'sa')).idMap.hostBase;
    assert.equal(modes(''), '711 0:0');
    assert.equal(modes('containers'), '711 0:0');
    assert.equal(modes('templates'), '700 0:0');
    assert.equal(modes('store'), '700 0:0');
    assert.equal(modes('strata.db'), '600 0:0');
    assert.equal(modes('containers/sa'), `710 0:${base}`, 'only the container\'s root group may pass');
  });

  test('inside the containers, su, ping, set-user-id and file capabilities still work', async () => {
    for (const ct of ['sa', 'sb']) {
      assert.match(await d.ok('exec', ct, '--user', 'nobody', '--', '/usr/local/bin/strata-probe-suid'), /^uid=65534 euid=0 .*shadow=readable/, `${ct}: set-user-id root`);
      assert.match(await d.ok('exec', ct, '--user', 'nobody', '--', '/usr/local/bin/strata-probe-sgid'), /egid=42 shadow=readable/, `${ct}: set-group-id shadow`);
      assert.match(await d.ok('exec', ct, '--user', 'nobody', '--', '/usr/local/bin/strata-probe-cap'), /^uid=65534 euid=65534 .*shadow=readable/, `${ct}: cap_dac_read_search`);
      assert.match(await d.ok('exec', ct, '--user', 'nobody', '--', 'ping', '-c', '1', '-W', '5', '127.0.0.1'), /1 received/, `${ct}: ping (cap_net_raw)`);
      await d.ok('exec', ct, '--', 'passwd', '-d', 'root');
      assert.match(await d.ok('exec', ct, '--user', 'nobody', '--', 'su', '-c', 'id -u', 'root'), /^0$/m, `${ct}: su`);
    }
  });
});

describe('host users gain nothing through Strata\'s files, without idmapped mounts', () => {
  // STRATA_DISABLE_IDMAP=1 stands in for a kernel without idmapped mounts (this one has them).
  const d = useDaemon({ env: { STRATA_DISABLE_IDMAP: '1' } });
  const work = useScratchDir('strata-test-secf-');
  before(async () => {
    await sharedDebian(d, 'deb');
    await d.ok('template', 'capture', 'probe', '--base', 'deb', '--script', installer(work));
  });

  test('the shifted template copies, captures and the container gain nothing; su works inside', { timeout: 10 * 60_000 }, async () => {
    // Application templates need idmapped mounts in unprivileged containers: the captured probe
    // stays in the template's tree and the store, which the sweep covers.
    await d.ok('create', 'fa', '--template', 'deb', '--no-net');
    await d.ok('start', 'fa');
    const { idMap, rootfs } = await d.json<{ idMap: { hostBase: number }; rootfs: string }>('inspect', 'fa');
    const files = privileged([d.root, d.paths.run, join(rootfs, 'usr')]);
    for (const want of [`templates/deb/shifted-${idMap.hostBase}/usr/bin/su`, 'templates/probe/v1/tree/usr/local/bin/strata-probe-suid', 'templates/probe/v1/tree/usr/local/bin/strata-probe-cap']) {
      assert.ok(files.includes(join(d.root, want)), `${want} was found`);
    }
    assert.ok(files.includes(join(rootfs, 'usr/bin/su')), 'the running container\'s su was found');
    assertNoGain(files);
    assert.match(asUser(['cat', join(rootfs, 'etc/shadow')]).out, /Permission denied/);
    await d.ok('exec', 'fa', '--', 'passwd', '-d', 'root');
    assert.match(await d.ok('exec', 'fa', '--user', 'nobody', '--', 'su', '-c', 'id -u', 'root'), /^0$/m, 'su');
  });
});

describe('a data root that container ids cannot reach', () => {
  const parent = mkdtempSync('/tmp/strata-test-shut-'); // mode 0700: other users cannot pass
  const d = useDaemon({ shareRoot: join(parent, 'root') });
  after(async () => {
    rmSync(parent, { recursive: true, force: true });
  });

  test('is reported by the daemon at start, and an unprivileged start says why, leaving nothing', async () => {
    assert.match(d.log, new RegExp(`WARNING: unprivileged containers cannot start under the data root ${d.root}: its parent directory ${parent} does not let other users pass.*chmod o\\+x ${parent}`));
    await d.ok('template', 'build', 'bb', '--from', 'busybox');
    await d.ok('create', 'u1', '--template', 'bb', '--no-net');
    const r = await d.cli('start', 'u1');
    assert.equal(r.status, 6);
    assert.match(r.stderr, /^strata: unprivileged containers cannot start under the data root .*chmod o\+x/);
    assert.equal((await d.json<{ state: string }>('inspect', 'u1')).state, 'created');
    assert.deepEqual(d.leftovers(), []);
  });
});
