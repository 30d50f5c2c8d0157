import { useApp } from '../state/store';

/** Repaired URL values, clamped inputs, recoveries: visible until dismissed (info ones fade). */
export function Notices() {
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismissNotice);
  return (
    <div className="notices" data-testid="notices">
      {notices.map((n) => (
        // Warnings (a repaired link, a clamped value, a lost device) interrupt; the rest wait their turn.
        <div key={n.id} className={`notice ${n.tone}`} role={n.tone === 'warning' ? 'alert' : 'status'}>
          <span>{n.text}</span>
          <button type="button" className="icon-button" aria-label="Dismiss notice" onClick={() => dismiss(n.id)}>
            ×
          </button>
        </div>
      ))}
      {notices.length > 1 && (
        <button type="button" className="small-button dismiss-all" onClick={() => useApp.setState({ notices: [] })}>
          Dismiss all {notices.length} notices
        </button>
      )}
    </div>
  );
}
