/** Small shared pieces: error boxes, sizes, a sparkline, a usage bar and a confirm dialog (the chart is chart.tsx). */
import { useEffect, useRef, useState } from 'react';

export function ErrorBox({ error }: { error: unknown }): React.JSX.Element | null {
  if (!error) return null;
  return <p className="error" role="alert">{error instanceof Error ? error.message : String(error)}</p>;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export const percent = (n: number | null | undefined): string => (n === null || n === undefined ? '–' : `${n.toFixed(n < 10 ? 1 : 0)} %`);

/** A tiny line of the last values (newest right). */
export function Sparkline({ values, label }: { values: number[]; label: string }): React.JSX.Element {
  const w = 80;
  const h = 20;
  const max = Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(' ');
  return (
    <svg className="spark" width={w} height={h} role="img" aria-label={label}>
      {values.length > 1 && <polyline points={pts} fill="none" stroke="currentColor" strokeWidth="1.5" />}
    </svg>
  );
}

/** How much of a plan is used. */
export function UsageBar({ label, used, limit, show }: { label: string; used: number; limit: number | undefined; show: (n: number) => string }): React.JSX.Element {
  const share = limit ? Math.min(1, used / limit) : 0;
  return (
    <div className="usage">
      <span>{label}</span>
      {limit !== undefined ? <meter min={0} max={limit} value={used} high={limit * 0.9} aria-label={`${label}: ${show(used)} of ${show(limit)}`} /> : <span className="muted">no limit</span>}
      <span className={share > 0.9 ? 'warn' : ''}>{show(used)}{limit !== undefined ? ` of ${show(limit)}` : ''}</span>
    </div>
  );
}

/** A button that asks first (a native dialog: focus, Escape and screen readers as the browser does them). */
export function ConfirmButton({ label, question, onConfirm, danger }: { label: string; question: string; onConfirm: () => void; danger?: boolean }): React.JSX.Element {
  const dialog = useRef<HTMLDialogElement>(null);
  const [open, setOpen] = useState(false);
  useEffect(() => { if (open) dialog.current?.showModal(); else dialog.current?.close(); }, [open]);
  return (
    <>
      <button type="button" className={danger ? 'danger' : ''} onClick={() => setOpen(true)}>{label}</button>
      <dialog ref={dialog} onClose={() => setOpen(false)} aria-label={question}>
        <p>{question}</p>
        <div className="row">
          <button type="button" onClick={() => setOpen(false)}>Cancel</button>
          <button type="button" className={danger ? 'danger' : 'primary'} onClick={() => { setOpen(false); onConfirm(); }}>{label}</button>
        </div>
      </dialog>
    </>
  );
}

export function StateBadge({ state }: { state: string }): React.JSX.Element {
  return <span className={`state state-${state}`}>{state}</span>;
}
