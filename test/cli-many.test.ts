// Integration: the CLI's verbs over many containers on a real daemon — start, stop and destroy of
// several names or --all (a failure does not stop the rest), list with filters, chosen columns
// and json/yaml/csv, the ls and rm aliases, and shell completion with names asked of the daemon.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { STRATA, useDaemon } from './harness.js';

describe('the CLI over many containers', () => {
  const d = useDaemon({ template: 'bb' });

  test('start and stop several names or --all; a failure is reported and the rest still done', async () => {
    for (const n of ['m1', 'm2', 'm3']) await d.ok('create', n, '--template', 'bb', '--no-net', ...(n === 'm3' ? ['--memory', '64M'] : []));
    assert.match(await d.ok('start', 'm1', 'm2'), /container m1 started[\s\S]*container m2 started/);
    const partly = await d.cli('start', 'm3', 'ghost');
    assert.notEqual(partly.status, 0);
    assert.match(partly.stdout, /container m3 started/, 'the good one was started');
    assert.match(partly.stderr, /container ghost does not exist[\s\S]*could not start ghost \(1 of 2 done\)/);
    const none = await d.cli('start');
    assert.match(none.stderr, /give the container\(s\) to start, or --all/);
    const both = await d.cli('stop', 'm1', '--all');
    assert.match(both.stderr, /give container names or --all, not both/);
    assert.match(await d.ok('stop', '--all'), /m1 stopped[\s\S]*m2 stopped[\s\S]*m3 stopped/);
    assert.match(await d.ok('start', '--all'), /m1 started[\s\S]*m3 started/);
  });

  test('list: filters, chosen columns, csv, yaml and json, and the ls alias', async () => {
    await d.ok('stop', 'm2');
    const csv = await d.ok('list', '--filter', 'state=running', '--columns', 'name,state,memory', '--format', 'csv');
    assert.equal(csv, 'name,state,memory\nm1,running,\nm3,running,64.0 MiB\n');
    const yaml = await d.ok('ls', '--filter', 'name=m?', '--filter', 'state=stopped', '--format', 'yaml', '--columns', 'name,state');
    assert.equal(yaml, '- name: m2\n  state: stopped\n');
    const json = JSON.parse(await d.ok('list', '--format', 'json', '--filter', 'name=m3')) as Array<{ name: string; limits: { memory: number } }>;
    assert.deepEqual(json.map((c) => [c.name, c.limits.memory]), [['m3', 64 * 1024 * 1024]], 'json without --columns: the full views');
    assert.match(await d.ok('ls'), /^NAME\s+STATE\s+PID\s+TEMPLATE/);
    const badCol = await d.cli('list', '--columns', 'name,colour');
    assert.match(badCol.stderr, /unknown column "colour": choose from name, state/);
    const badFilter = await d.cli('list', '--filter', 'size=big');
    assert.match(badFilter.stderr, /invalid --filter "size=big": give KEY=VALUE with KEY one of name, state, template, tenant, app, network/);
    const badFormat = await d.cli('list', '--format', 'xml');
    assert.match(badFormat.stderr, /unknown --format "xml": use table, json, yaml or csv/);
  });

  test('bash completion offers verbs, options, and container names from the daemon', () => {
    const script = spawnSync(process.execPath, [STRATA, 'completion', 'bash'], { encoding: 'utf8' }).stdout;
    const complete = (words: string[]): string[] => {
      const r = spawnSync('bash', ['-c', `source /dev/stdin <<'EOS'\n${script}\nEOS\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _strata; printf '%s\\n' "\${COMPREPLY[@]}"`],
        { encoding: 'utf8', env: { ...process.env, PATH: `${STRATA.replace(/\/strata$/, '')}:${process.env.PATH}`, STRATA_SOCKET: d.socket } });
      return r.stdout.split('\n').filter(Boolean);
    };
    assert.deepEqual(complete(['strata', 'snap']), ['snapshot']);
    assert.deepEqual(complete(['strata', 'snapshot', 'r']), ['restore', 'rm']);
    assert.ok(complete(['strata', 'list', '--f']).includes('--filter'));
    assert.deepEqual(complete(['strata', 'stop', 'm']), ['m1', 'm2', 'm3'], 'container names asked of the daemon');
    const zsh = spawnSync(process.execPath, [STRATA, 'completion', 'zsh'], { encoding: 'utf8' }).stdout;
    assert.match(zsh, /bashcompinit[\s\S]*complete -F _strata strata/);
  });

  test('destroy several at once with the rm alias', async () => {
    assert.match(await d.ok('rm', 'm1', 'm2', 'm3', '--force'), /m1 destroyed[\s\S]*m2 destroyed[\s\S]*m3 destroyed/);
    assert.deepEqual(JSON.parse(await d.ok('list', '--json')), []);
    assert.deepEqual(d.leftovers(), []);
  });
});
