/**
 * The remotes file: the daemons this user's `strata` may drive, each with its URL, token and the
 * certificate fingerprint pinned when it was added, and which one is current. `local` (the unix
 * socket) is built in. Kept in $STRATA_CONFIG_DIR, $XDG_CONFIG_HOME/strata or ~/.config/strata,
 * mode 0600: the tokens in it are secrets (as docker's and incus's client files hold theirs).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { AlreadyExists, FailedPrecondition, InvalidArgument, NotFound } from '../errors/index.js';

export interface Remote { url: string; token: string; fingerprint: string; addedAt: string }

interface RemotesFile { current: string; remotes: Record<string, Remote> }

export const LOCAL = 'local';

function configDir(env = process.env): string {
  return env.STRATA_CONFIG_DIR ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'strata');
}

const fileOf = (dir: string): string => join(dir, 'remotes.json');

export function readRemotes(dir = configDir()): RemotesFile {
  const file = fileOf(dir);
  if (!existsSync(file)) return { current: LOCAL, remotes: {} };
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<RemotesFile>;
    return { current: parsed.current ?? LOCAL, remotes: parsed.remotes ?? {} };
  } catch (err) {
    throw new FailedPrecondition(`${file} is not valid JSON (${(err as Error).message}): fix it or remove it`);
  }
}

/** Written whole to a temporary file and renamed: a crash leaves the old file or the new, never half. */
function writeRemotes(f: RemotesFile, dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${fileOf(dir)}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(f, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, fileOf(dir));
}

/** Checks a remote's name and URL before anything is contacted. */
export function checkNewRemote(name: string, url: string, dir = configDir()): void {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(name)) throw new InvalidArgument(`invalid remote name ${JSON.stringify(name)}: use a-z, 0-9 and '-'`);
  if (name === LOCAL) throw new InvalidArgument(`'${LOCAL}' is the built-in name of this host's unix socket: pick another name`);
  if (readRemotes(dir).remotes[name]) throw new AlreadyExists(`remote ${name} already exists: remove it first ('strata remote remove ${name}') to add it again`);
  let u: URL;
  try { u = new URL(url); } catch { throw new InvalidArgument(`invalid URL ${JSON.stringify(url)}: give https://HOST:PORT`); }
  if (u.protocol !== 'https:') throw new InvalidArgument(`the API is served over TLS only: give https://${u.host || 'HOST:PORT'}, not ${u.protocol}//`);
  if (u.pathname !== '/' || u.search) throw new InvalidArgument(`give the daemon's address only, https://HOST:PORT, without a path`);
}

export function addRemote(name: string, remote: Remote, dir = configDir()): void {
  const f = readRemotes(dir);
  f.remotes[name] = remote;
  writeRemotes(f, dir);
}

export function removeRemote(name: string, dir = configDir()): void {
  const f = readRemotes(dir);
  if (!f.remotes[name]) throw new NotFound(`there is no remote ${name}: see 'strata remote list'`);
  delete f.remotes[name];
  if (f.current === name) f.current = LOCAL;
  writeRemotes(f, dir);
}

export function switchRemote(name: string, dir = configDir()): void {
  const f = readRemotes(dir);
  if (name !== LOCAL && !f.remotes[name]) throw new NotFound(`there is no remote ${name}: see 'strata remote list'`);
  f.current = name;
  writeRemotes(f, dir);
}

/** The remote a command goes to: `--remote`, else $STRATA_REMOTE, else the current one; null for the local socket. */
export function chosenRemote(flag: string | undefined, dir = configDir()): (Remote & { name: string }) | null {
  const f = readRemotes(dir);
  const name = flag ?? process.env.STRATA_REMOTE ?? f.current;
  if (name === LOCAL) return null;
  const r = f.remotes[name];
  if (!r) throw new NotFound(`there is no remote ${name}: see 'strata remote list' (or add it with 'strata remote add ${name} https://HOST:PORT --token …')`);
  return { ...r, name };
}
