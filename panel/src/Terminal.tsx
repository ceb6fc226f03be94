/**
 * A terminal in the browser: a shell run in the container (exec with a pty) or its console, over
 * the daemon's WebSocket opened with a single-use ticket. Resize follows the box; copy and paste
 * are the browser's (select to copy, Ctrl+Shift+V or the context menu to paste).
 */
import { useEffect, useRef, useState } from 'react';
import { Terminal as XTerm } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import '@xterm/xterm/css/xterm.css';
import { openSession } from './api';

/** bash where the container has it, else sh; a login shell either way. */
const SHELL = ['/bin/sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash -l; else exec sh -l; fi'];

export function Terminal({ container, kind, onExit }: { container: string; kind: 'exec' | 'console'; onExit?: (status: number | null) => void }): React.JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const [status, setStatus] = useState('connecting…');
  const exitRef = useRef(onExit);
  exitRef.current = onExit;

  useEffect(() => {
    const el = box.current!;
    const term = new XTerm({ cursorBlink: true, fontSize: 14, convertEol: false, scrollback: 5000, fontFamily: 'ui-monospace, Menlo, Consolas, monospace' });
    const fit = new FitAddon();
    term.loadAddon(fit);
    term.open(el);
    fit.fit();
    let ws: WebSocket | null = null;
    let closed = false;
    const enc = new TextEncoder();
    const send = (o: unknown): void => { if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify(o)); };
    void (async () => {
      try {
        ws = await openSession(container, kind, kind === 'console' ? `&rows=${term.rows}&cols=${term.cols}` : '');
      } catch (err) {
        setStatus(`could not open: ${(err as Error).message}`);
        return;
      }
      if (closed) { ws.close(); return; }
      ws.onopen = () => {
        setStatus(kind === 'console' ? 'console attached' : 'shell open');
        if (kind === 'exec') send({ type: 'start', args: SHELL, tty: true, env: ['TERM=xterm-256color'], rows: term.rows, cols: term.cols });
        term.focus();
      };
      ws.onmessage = (m) => {
        if (typeof m.data === 'string') {
          const f = JSON.parse(m.data) as { type: string; status?: number | null; signal?: string | null; message?: string };
          if (f.type === 'exit') {
            term.write(`\r\n\x1b[2m[${f.message ?? `ended with status ${f.status ?? f.signal}`}]\x1b[0m\r\n`);
            setStatus(`ended (status ${f.status ?? f.signal})`);
            exitRef.current?.(f.status ?? null);
          } else if (f.type === 'error') {
            term.write(`\r\n\x1b[31m${f.message ?? 'error'}\x1b[0m\r\n`);
            setStatus(f.message ?? 'error');
          }
          return;
        }
        term.write(new Uint8Array(m.data as ArrayBuffer).subarray(1));
      };
      ws.onclose = () => { if (!closed) setStatus((s) => (s.startsWith('ended') ? s : 'closed')); };
    })();
    const data = term.onData((d) => { if (ws?.readyState === WebSocket.OPEN) ws.send(enc.encode(d)); });
    const sized = term.onResize(({ rows, cols }) => send({ type: 'resize', rows, cols }));
    const resize = new ResizeObserver(() => { try { fit.fit(); } catch { /* hidden */ } });
    resize.observe(el);
    return () => { closed = true; resize.disconnect(); data.dispose(); sized.dispose(); ws?.close(); term.dispose(); };
  }, [container, kind]);

  return (
    <div className="terminal-wrap">
      <div className="terminal" ref={box} role="application" aria-label={kind === 'console' ? `console of ${container}` : `shell in ${container}`} data-testid="terminal" />
      <p className="muted" role="status">{status}</p>
    </div>
  );
}
