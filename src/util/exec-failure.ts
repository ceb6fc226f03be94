/**
 * What runc says when `runc exec` could not start a command (the command never ran), as one
 * sentence and the status a shell would give (127: not found, 126: found but not runnable). The
 * CLI reads it from runc's stderr when it runs exec itself; the daemon when it runs exec for a
 * WebSocket session.
 */

/** runc's own line when it could not start the command (the command never ran). */
export const RUNC_EXEC_FAILED = /^(?:time="[^"]*" level=error msg=")?exec failed: unable to start container process: (.*?)"?$/;

/**
 * What runc's failure to start a command means, as podman says it: the status (127: not found,
 * 126: found but not runnable) and one sentence.
 */
export function execFailure(runcMessage: string, container: string): { status: number; message: string } {
  const m = runcMessage.replace(/\\"/g, '"');
  const notFound = /exec: "([^"]*)": (?:executable file not found in \$PATH|stat [^:]*: no such file or directory)/.exec(m);
  if (notFound) return { status: 127, message: `${notFound[1]}: command not found in container ${container}` };
  const cwd = /chdir to cwd \("([^"]*)"\) set in config\.json failed: (.*)$/.exec(m);
  if (cwd) return { status: 126, message: `the working directory ${cwd[1]} cannot be used in container ${container}: ${cwd[2]}` };
  const denied = /exec: "([^"]*)": permission denied/.exec(m);
  if (denied) return { status: 126, message: `${denied[1]}: permission denied in container ${container} (not an executable file)` };
  return { status: 126, message: `the command could not be started in container ${container}: ${m}` };
}

