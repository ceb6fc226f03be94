// The runtime registry: picking by name, refusing an unknown one, and refusing one whose declared
// cgroup layouts exclude the host's (plain data: no runtime binary is run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPrecondition, InvalidArgument } from '../errors/index.js';
import { cgroupLayout, DEFAULT_RUNTIME, openRuntime, RUNTIMES, type OciRuntime, type RuntimeOptions } from './index.js';

const opts: RuntimeOptions = { stateRoot: '/nonexistent/runc', monitor: { run: () => Promise.resolve(1), closeConsole: () => Promise.resolve() } };

test('the default runtime is runc, and runc declares every cgroup layout and no checkpoint', () => {
  assert.equal(DEFAULT_RUNTIME, 'runc');
  for (const name of [undefined, '', 'runc']) {
    const rt = openRuntime(name, opts, 'hybrid');
    assert.equal(rt.name, 'runc');
    assert.deepEqual([...rt.capabilities.cgroupLayouts].sort(), ['hybrid', 'v1', 'v2']);
    assert.equal(rt.capabilities.checkpoint, false);
    assert.equal(rt.capabilities.consoleSocket, true);
  }
});

test('an unknown runtime is refused with the known ones listed', () => {
  assert.throws(() => openRuntime('kata', opts, 'v2'), (err: Error) => {
    assert.ok(err instanceof InvalidArgument);
    assert.match(err.message, new RegExp(`^unknown runtime "kata": use one of ${Object.keys(RUNTIMES).join(', ')}$`));
    return true;
  });
  // Not a property of every object either.
  assert.throws(() => openRuntime('toString', opts, 'v2'), InvalidArgument);
});

test('crun declares a pure cgroup v2 host: refused on a hybrid or v1 host, naming runc', () => {
  assert.deepEqual(openRuntime('crun', opts, 'v2').capabilities.cgroupLayouts, ['v2']);
  for (const layout of ['hybrid', 'v1'] as const) {
    assert.throws(() => openRuntime('crun', opts, layout), (err: Error) => {
      assert.ok(err instanceof FailedPrecondition);
      assert.match(err.message, /^the runtime crun runs on cgroup v2 only, and this host has .*: start the daemon with --runtime runc \(or STRATA_RUNTIME=runc\)$/);
      return true;
    });
  }
});

test('a runtime whose capabilities exclude the host\'s cgroup layout is refused, naming one that fits', () => {
  // runc as a runtime that declares a pure cgroup v2 host (as crun 1.8 needs).
  const v2only = (o: RuntimeOptions): OciRuntime => {
    const runc = RUNTIMES.runc(o);
    return Object.assign(Object.create(runc) as OciRuntime, { name: 'v2only', capabilities: { ...runc.capabilities, cgroupLayouts: ['v2'] } });
  };
  const registry = { runc: RUNTIMES.runc, v2only };
  assert.throws(() => openRuntime('v2only', opts, 'hybrid', registry), (err: Error) => {
    assert.ok(err instanceof FailedPrecondition);
    assert.match(err.message, /the runtime v2only runs on cgroup v2 only, and this host has the hybrid cgroup v1\/v2 layout: start the daemon with --runtime runc \(or STRATA_RUNTIME=runc\)/);
    return true;
  });
  assert.equal(openRuntime('v2only', opts, 'v2', registry).name, 'v2only');
});

test('the cgroup layout of a host: v2, hybrid or v1 from its cgroup mount', () => {
  const dir = mkdtempSync('/tmp/strata-test-layout-');
  try {
    mkdirSync(join(dir, 'memory'));
    assert.equal(cgroupLayout(dir), 'v1');
    mkdirSync(join(dir, 'unified'));
    writeFileSync(join(dir, 'unified', 'cgroup.controllers'), '');
    assert.equal(cgroupLayout(dir), 'hybrid');
    writeFileSync(join(dir, 'cgroup.controllers'), 'cpu memory pids\n');
    assert.equal(cgroupLayout(dir), 'v2');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
