import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildSpec, BLOCKED_SYSCALLS, MASKED_PATHS } from './spec.js';

const base = { hostname: 'web1', rootfs: '/r/rootfs', args: ['/sbin/init'], cgroupsPath: 'strata-x/web1' };

test('an unprivileged container gets every namespace and its own id range', () => {
  const spec = buildSpec({ ...base, idMap: { hostBase: 16777216, size: 65536 } });
  const types = spec.linux.namespaces.map((n) => n.type).sort();
  assert.deepEqual(types, ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
  assert.deepEqual(spec.linux.uidMappings, [{ containerID: 0, hostID: 16777216, size: 65536 }]);
  assert.deepEqual(spec.linux.gidMappings, spec.linux.uidMappings);
  assert.equal(spec.hostname, 'web1');
  assert.equal((spec.root as { path: string }).path, '/r/rootfs');
  assert.equal(spec.linux.cgroupsPath, 'strata-x/web1');
});

test('a privileged container has no user namespace and a smaller capability set', () => {
  const spec = buildSpec(base);
  assert.ok(!spec.linux.namespaces.some((n) => n.type === 'user'));
  assert.equal(spec.linux.uidMappings, undefined);
  assert.ok(!spec.process.capabilities.bounding.includes('CAP_SYS_ADMIN'));
});

test('hardening: masked paths, seccomp deny list, device allow-list', () => {
  const spec = buildSpec({ ...base, idMap: { hostBase: 1 << 24, size: 65536 } });
  assert.deepEqual(spec.linux.maskedPaths, MASKED_PATHS);
  assert.ok((spec.linux.readonlyPaths as string[]).includes('/proc/sys'));
  const seccomp = spec.linux.seccomp as { defaultAction: string; syscalls: Array<{ names: string[]; action: string }> };
  assert.equal(seccomp.defaultAction, 'SCMP_ACT_ALLOW');
  for (const name of ['init_module', 'kexec_load', 'bpf', 'perf_event_open', 'keyctl', 'open_by_handle_at']) {
    assert.ok(seccomp.syscalls[0].names.includes(name), name);
  }
  assert.equal(seccomp.syscalls[0].names, BLOCKED_SYSCALLS);
  // The new mount API looks absent (ENOSYS): mount(8) falls back to mount(2).
  assert.deepEqual(seccomp.syscalls[1], { names: ['fsopen', 'fsconfig', 'fsmount', 'fspick'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
  const devices = (spec.linux.resources as { devices: Array<{ allow: boolean; major?: number }> }).devices;
  assert.deepEqual(devices[0], { allow: false, access: 'rwm' });
  assert.ok(!spec.process.capabilities.bounding.includes('CAP_SYS_MODULE'));
  assert.ok(!spec.process.capabilities.bounding.includes('CAP_SYS_RAWIO'));
});

test('limits and extra mounts are carried into the spec beside the device list', () => {
  const spec = buildSpec({
    ...base, resources: { memory: { limit: 1 << 28 }, pids: { limit: 64 } },
    extraMounts: [{ destination: '/proc/meminfo', type: 'bind', source: '/run/x/lxcfs/proc/meminfo', options: ['bind'] }],
  });
  const res = spec.linux.resources as { memory: { limit: number }; pids: { limit: number }; devices: unknown[] };
  assert.equal(res.memory.limit, 1 << 28);
  assert.equal(res.pids.limit, 64);
  assert.ok(res.devices.length > 1);
  assert.equal(spec.mounts[spec.mounts.length - 1].destination, '/proc/meminfo');
});
