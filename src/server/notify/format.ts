/**
 * What each channel receives, built from the alert as it is when the message goes and the event: pure, so the
 * formats are tested without a network. Every channel gets the same words; only the envelope differs.
 */
import type { Alert, Severity } from '../../core/model.js';
import type { OutboxEvent } from '../store/outbox-repository.js';

export interface Message {
  event: OutboxEvent;
  alert: Alert;
  /** The idempotency key: the same for every attempt at this message. */
  key: string;
  /** When this attempt is made (epoch ms). */
  at: number;
}

const EVENT_WORD: Record<OutboxEvent, string> = {
  new: 'New',
  updated: 'Updated',
  reminder: 'Reminder',
  resolved: 'Resolved',
  acknowledged: 'Acknowledged',
  test: 'Test',
};

/** One line: `[CRITICAL] gpu_temp_critical on gpu1 (new)`; ASCII only, so it fits any header. */
export function title(m: Message): string {
  const a = m.alert;
  return `[${a.severity.toUpperCase()}] ${a.type} on ${a.host}${m.event === 'new' ? '' : ` (${EVENT_WORD[m.event].toLowerCase()})`}`;
}

/** The readable text of a message: what happened, where, since when, and how to act on it. */
export function textBody(m: Message): string {
  const a = m.alert;
  const lines = [`${EVENT_WORD[m.event]}: ${a.message}`, '', `severity: ${a.severity}`, `type: ${a.type}`, `host: ${a.host}`];
  if (a.session) lines.push(`session: ${a.session}`);
  if (a.gpu_index !== null) lines.push(`gpu: ${a.gpu_index}`);
  lines.push(`since: ${a.created}`);
  if (a.resolved_at) lines.push(`resolved: ${a.resolved_at}`);
  if (a.acknowledged) lines.push(`acknowledged by ${a.acknowledged_by ?? 'someone'}${a.ack_note ? `: ${a.ack_note}` : ''}`);
  lines.push(`alert id: ${a.id}`);
  if (m.event !== 'resolved' && !a.acknowledged && m.event !== 'test') lines.push('', `acknowledge: fleetmon alerts ack ${a.id}`);
  return lines.join('\n');
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const COLOR: Record<Severity, string> = { info: '#2f6fde', warning: '#d98e04', critical: '#d1242f' };

/** The same words as textBody in a simple HTML mail (inline styles only: mail clients drop style sheets). */
export function htmlBody(m: Message): string {
  const [head, , ...rest] = textBody(m).split('\n');
  const color = m.event === 'resolved' ? '#1a7f37' : COLOR[m.alert.severity];
  const rows = rest
    .filter((l) => l.includes(': ') && !l.startsWith('acknowledge: '))
    .map((l) => {
      const i = l.indexOf(': ');
      return `<tr><td style="color:#666;padding-right:12px">${escapeHtml(l.slice(0, i))}</td><td>${escapeHtml(l.slice(i + 2))}</td></tr>`;
    });
  return [
    '<!doctype html><html><body style="font-family:sans-serif">',
    `<p style="border-left:4px solid ${color};padding-left:8px;font-size:16px">${escapeHtml(head ?? '')}</p>`,
    `<table style="font-size:14px">${rows.join('')}</table>`,
    m.event !== 'resolved' && !m.alert.acknowledged ? `<p style="font-size:13px">acknowledge: <code>fleetmon alerts ack ${escapeHtml(m.alert.id)}</code></p>` : '',
    '</body></html>',
  ].join('\n');
}

/** The webhook's JSON document: a version, the event, the idempotency key and the alert as the API shows it. */
export function webhookPayload(m: Message): string {
  return JSON.stringify({ version: 1, event: m.event, idempotency_key: m.key, sent_at: new Date(m.at).toISOString(), title: title(m), text: textBody(m), alert: m.alert });
}

const NTFY_PRIORITY: Record<Severity, number> = { info: 3, warning: 4, critical: 5 };
const NTFY_TAG: Record<Severity, string> = { info: 'information_source', warning: 'warning', critical: 'rotating_light' };

/** ntfy's JSON publishing form (POST to the server's root with the topic inside): no header encoding to get wrong. */
export function ntfyPayload(m: Message, topic: string): string {
  const resolved = m.event === 'resolved';
  return JSON.stringify({
    topic,
    title: title(m),
    message: textBody(m),
    priority: resolved ? 2 : NTFY_PRIORITY[m.alert.severity],
    tags: resolved ? ['white_check_mark', m.alert.type] : [NTFY_TAG[m.alert.severity], m.alert.type],
  });
}

/** The incoming-webhook body Slack, Mattermost and Discord's `/slack` endpoint all take: text plus one attachment. */
export function slackPayload(m: Message): string {
  const color = m.event === 'resolved' ? '#1a7f37' : COLOR[m.alert.severity];
  const slackEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return JSON.stringify({
    text: slackEscape(`${title(m)}: ${m.alert.message}`),
    attachments: [{ color, fallback: slackEscape(title(m)), title: slackEscape(title(m)), text: slackEscape(textBody(m)) }],
  });
}

/**
 * An Alertmanager API v2 alert. The labels identify it (the same on every post); an open alert's endsAt lies a
 * few resend intervals ahead, as Prometheus does, so Alertmanager resolves it itself if fleetmon stops posting;
 * a resolved one's endsAt is when it resolved.
 */
export function alertmanagerAlert(alert: Alert, at: number, resendMs: number): Record<string, unknown> {
  const labels: Record<string, string> = { alertname: alert.type, host: alert.host, severity: alert.severity };
  if (alert.session) labels.session = alert.session;
  if (alert.gpu_index !== null) labels.gpu = String(alert.gpu_index);
  const annotations: Record<string, string> = { summary: alert.message, description: textBody({ event: alert.state === 'resolved' ? 'resolved' : 'new', alert, key: '', at }), fleetmon_id: alert.id };
  if (alert.acknowledged) annotations.acknowledged_by = alert.acknowledged_by ?? 'someone';
  return {
    labels,
    annotations,
    startsAt: alert.created,
    endsAt: alert.resolved_at ?? new Date(at + 4 * resendMs).toISOString(),
  };
}

/** A made-up alert for `fleetmon notify test`: clearly a test, with every field a real one has. */
export function testAlert(channel: string, at: number): Alert {
  const t = new Date(at).toISOString();
  return {
    id: `test-${at.toString(36)}`,
    type: 'high_cpu',
    severity: 'info',
    host: 'fleetmon-test',
    session: null,
    gpu_index: null,
    message: `test message from fleetmon to the channel '${channel}': if you can read this, the channel works`,
    value: null,
    threshold: null,
    state: 'resolved',
    created: t,
    last_seen_at: t,
    resolved_at: t,
    acknowledged: false,
    acknowledged_at: null,
    acknowledged_by: null,
    ack_note: null,
  };
}
