/**
 * The derived-files table, beside the per-key merge table (rules.ts): files an OS computes from
 * the installed set (the dynamic linker's cache, PAM's common configuration, caches of icons,
 * MIME types and GSettings schemas, systemd's journal catalog), and SSH host keys and the snakeoil TLS
 * certificate, which must be each container's own. Each capture would carry a whole
 * new copy, and the top template's would hide every other's. So captures leave them out, and the
 * program that computes them runs inside the container (as its root, before its init starts, or
 * at once on a running container) whenever its set of templates changes.
 *
 * Files that are derived but keyed line by line (dpkg's triggers, ucf's registry, insserv's
 * boot order) are merged per key instead: they are in MERGE_RULES.
 */

export interface DerivedFile {
  /** What it is, for messages and docs. */
  what: string;
  /** Globs (capture/glob.ts) of the derived paths: captures leave them out. */
  paths: string[];
  /** The program that computes them; nothing runs when the container does not have it. */
  program: string;
  /** Shell command run inside the container to compute them. */
  command: string;
}

export const DERIVED_FILES: readonly DerivedFile[] = [
  { what: 'dynamic linker cache', paths: ['/etc/ld.so.cache'], program: '/sbin/ldconfig', command: '/sbin/ldconfig' },
  {
    what: 'PAM common configuration',
    paths: ['/etc/pam.d/common-auth', '/etc/pam.d/common-account', '/etc/pam.d/common-password', '/etc/pam.d/common-session', '/etc/pam.d/common-session-noninteractive', '/var/lib/pam/**'],
    program: '/usr/sbin/pam-auth-update',
    command: 'DEBIAN_FRONTEND=noninteractive /usr/sbin/pam-auth-update --package',
  },
  { what: 'systemd journal catalog', paths: ['/var/lib/systemd/catalog/database'], program: '/usr/bin/journalctl', command: '/usr/bin/journalctl --update-catalog' },
  {
    what: 'GSettings schema cache', paths: ['/usr/share/glib-2.0/schemas/gschemas.compiled'], program: '/usr/bin/glib-compile-schemas',
    command: '[ ! -d /usr/share/glib-2.0/schemas ] || /usr/bin/glib-compile-schemas /usr/share/glib-2.0/schemas',
  },
  {
    what: 'icon theme caches', paths: ['/usr/share/icons/*/icon-theme.cache'], program: '/usr/bin/gtk-update-icon-cache',
    command: 'for d in /usr/share/icons/*/; do [ ! -f "$d/index.theme" ] || /usr/bin/gtk-update-icon-cache -q -f "$d" || exit 1; done',
  },
  {
    // Everything in /usr/share/mime is computed from packages/ (no media type starts with p).
    what: 'shared MIME database', paths: ['/usr/share/mime/[!p]*'], program: '/usr/bin/update-mime-database',
    command: '[ ! -d /usr/share/mime/packages ] || /usr/bin/update-mime-database /usr/share/mime',
  },
  {
    // Not derived from the set but an identity: one host key set per container, never shared
    // by every container the template is attached to (a customer could impersonate another's).
    what: 'SSH host keys', paths: ['/etc/ssh/ssh_host_*'], program: '/usr/sbin/sshd', command: '/usr/bin/ssh-keygen -A >/dev/null',
  },
  {
    what: 'snakeoil TLS certificate', paths: ['/etc/ssl/certs/ssl-cert-snakeoil.pem', '/etc/ssl/private/ssl-cert-snakeoil.key'], program: '/usr/sbin/make-ssl-cert',
    command: '[ -f /etc/ssl/private/ssl-cert-snakeoil.key ] || /usr/sbin/make-ssl-cert generate-default-snakeoil',
  },
  { what: 'CA certificate bundle', paths: ['/etc/ssl/certs/ca-certificates.crt'], program: '/usr/sbin/update-ca-certificates', command: '/usr/sbin/update-ca-certificates >/dev/null' },
];

/** The capture excludes of the table. */
export function derivedExcludes(table: readonly DerivedFile[] = DERIVED_FILES): string[] {
  return table.flatMap((d) => d.paths);
}

/**
 * One /bin/sh script that recomputes every derived file the container has the program of; it
 * goes on past a failure, names what failed on stderr and then exits 1.
 */
export function regenerationScript(table: readonly DerivedFile[] = DERIVED_FILES): string {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['failed=""'];
  for (const d of table) lines.push(`if [ -x ${quote(d.program)} ]; then ( ${d.command} ) || failed="$failed, "${quote(d.what)}; fi`);
  lines.push('[ -z "$failed" ] || { echo "could not recompute${failed#,}" >&2; exit 1; }');
  return `${lines.join('\n')}\n`;
}
