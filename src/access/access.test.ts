// Unit: plans, quota checks and secrets on an in-memory database (no daemon).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB } from '../model/units.js';
import { AccessRecords, Store } from '../state/index.js';
import { Access, parsePlan, QuotaBook } from './index.js';
import { checkPassword, hashPassword, splitToken } from './secrets.js';

function fresh(): { store: Store; access: Access; quota: QuotaBook } {
  const store = new Store(':memory:');
  const access = new Access(new AccessRecords(store.db));
  return { store, access, quota: new QuotaBook(access.records) };
}

test('a plan takes sizes as text, removes a field with null, and refuses what is not a plan by name', () => {
  const p = parsePlan({ cpus: '1.5', memory: '8G', disk: 10737418240, containers: 3, traffic: '1T', trafficPolicy: 'suspend' });
  assert.deepEqual(p, { cpus: 1.5, memory: 8 * GiB, disk: 10 * GiB, containers: 3, trafficBytes: 2 ** 40, trafficPolicy: 'suspend' });
  assert.deepEqual(parsePlan({ memory: null, containers: 4 }, p), { cpus: 1.5, disk: 10 * GiB, containers: 4, trafficBytes: 2 ** 40, trafficPolicy: 'suspend' });
  assert.throws(() => parsePlan({ containers: -1 }), /containers must be a whole number/);
  assert.throws(() => parsePlan({ cpus: 0 }), /positive number of CPUs/);
  assert.throws(() => parsePlan({ trafficPolicy: 'kill' }), /'throttle' or 'suspend'/);
  assert.throws(() => parsePlan({ colour: 1 } as never), /a plan has no field "colour"/);
});

test('a create is checked against what the tenant holds: containers, disk, ports reserved until released', () => {
  const { store, access, quota } = fresh();
  access.createTenant('t1', parsePlan({ containers: 2, disk: '10G', ports: 2, memory: '1G' }));
  const insert = (name: string, disk: number): void => {
    store.db.prepare("INSERT INTO templates (name, kind, source, init, stop_signal, created_at) VALUES ('bb', 'os', 'x', '[]', 'TERM', 'now') ON CONFLICT DO NOTHING").run();
    store.insertContainer({ name, template: 'bb', hostname: name, privileged: true, autostart: false, state: 'created', pid: null, createdAt: 'now', startedAt: null, stoppedAt: null, limits: { disk }, volume: true, tenant: 't1' });
  };
  const r1 = quota.checkCreate('t1', { disk: 6 * GiB }, 2);
  insert('a', 6 * GiB);
  assert.throws(() => quota.checkCreate('t1', { disk: 1 * GiB }, 1), /may publish 2 port\(s\) and has 2/, 'the first create\'s ports are still reserved');
  r1.release();
  assert.throws(() => quota.checkCreate('t1', { disk: 5 * GiB }, 0), /would have 11 GiB of disk, over its plan's 10 GiB \(4 GiB left\)/);
  assert.throws(() => quota.checkCreate('t1', { disk: 1 * GiB, memory: 2 * GiB }, 0), /may not have memory 2 GiB: its plan allows 1 GiB for all its containers together/);
  assert.throws(() => quota.checkCreate('t1', {}, 0), /give the container a disk limit/);
  quota.checkCreate('t1', { disk: 4 * GiB }, 0).release();
  insert('b', 4 * GiB);
  assert.throws(() => quota.checkCreate('t1', { disk: 1 }, 0), /has 2 of the 2 containers/);
  assert.doesNotThrow(() => quota.checkResize('t1', { disk: 4 * GiB }, { disk: 4 * GiB }));
  assert.throws(() => quota.checkResize('t1', { disk: 4 * GiB }, { disk: 5 * GiB }), /over its plan's 10 GiB/);
  access.setSuspended('t1', 'unpaid');
  assert.throws(() => quota.checkActive('t1'), /tenant t1 is suspended \(unpaid\)/);
  assert.throws(() => access.removeTenant('t1'), /still has 2 container\(s\) \(a, b\): destroy them first/);
  store.close();
});

test('users and tokens: roles bind to tenants, tokens hold no more than the role, secrets are hashed', () => {
  const { store, access } = fresh();
  access.createTenant('t1', {});
  assert.throws(() => access.createUser({ name: 'x', role: 'owner' }), /belongs to a tenant: give --tenant/);
  assert.throws(() => access.createUser({ name: 'x', role: 'admin', tenant: 't1' }), /belongs to no tenant/);
  assert.throws(() => access.createUser({ name: 'root', role: 'admin' }), /the host's own/);
  access.createUser({ name: 'v', role: 'viewer', tenant: 't1', password: 'long enough' });
  assert.throws(() => access.createToken({ user: 'v', scopes: ['containers:write'] }), /a viewer cannot hold scope containers:write/);
  assert.throws(() => access.createToken({ user: 'v', scopes: ['fly'] }), /unknown scope "fly"/);
  assert.throws(() => access.createToken({ user: 'v', cidrs: ['10.0.0.0/33'] }), /invalid address range/);
  const { token, record } = access.createToken({ user: 'v', cidrs: ['10.1.0.0/16'] });
  const parts = splitToken(token);
  assert.ok(parts);
  const row = store.db.prepare('SELECT secret_hash FROM tokens WHERE id = ?').get(record.id) as { secret_hash: string };
  assert.notEqual(row.secret_hash, parts.secret);
  assert.equal(access.authenticate(token, '10.1.2.3', null).user, 'v');
  assert.equal(access.authenticate(token, '::ffff:10.1.2.3', null).tenant, 't1');
  assert.throws(() => access.authenticate(token, '10.2.0.1', null), /may not be used from 10\.2\.0\.1/);
  assert.throws(() => access.authenticate(token, '10.1.2.3', 't1'), /only a host administrator may act as a tenant/);
  assert.throws(() => access.login('v', 'wrong password'), /wrong user name or password/);
  assert.equal(access.login('v', 'long enough').record.user, 'v');
  const hash = hashPassword('s3cret-pass');
  assert.ok(checkPassword('s3cret-pass', hash) && !checkPassword('s3cret-pasS', hash));
  store.close();
});
