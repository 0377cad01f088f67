/**
 * The store as the monitor sees it: each repository, and one poll cycle written in one transaction (samples and
 * states, then the alert changes the pure evaluation returned). Nothing here decides anything about alerts.
 */
import type { Host } from '../../core/model.js';
import type { Alert } from '../../core/model.js';
import type { AlertChanges } from '../alerts/evaluate.js';
import type { AlertEvent } from '../alerts/events.js';
import { AlertRepository } from './alert-repository.js';
import type { Db } from './db.js';
import { OutboxRepository, type OutboxPlan } from './outbox-repository.js';
import { HostKeyRepository, SampleRepository } from './repositories.js';

export interface CycleWrite {
  /** The cycle's start: the samples' timestamp. */
  ts: number;
  hosts: Host[];
  alertChanges: AlertChanges;
  /** When the alert changes happened (the cycle's end). */
  alertsAt: number;
  /** Save each host's whole snapshot too (SampleRepository.writeCycle). */
  states: boolean;
  /** The notifications these events cause (pure, server/notify/rules.ts), added to the outbox in the same transaction. */
  planNotifications?: (events: AlertEvent[], alert: (id: string) => Alert | undefined) => OutboxPlan[];
}

export class Store {
  readonly samples: SampleRepository;
  readonly alerts: AlertRepository;
  readonly hostKeys: HostKeyRepository;
  readonly outbox: OutboxRepository;

  constructor(private readonly db: Db) {
    this.samples = new SampleRepository(db);
    this.alerts = new AlertRepository(db);
    this.hostKeys = new HostKeyRepository(db);
    this.outbox = new OutboxRepository(db);
  }

  /** Returns the alert events to publish now that the transaction has committed. */
  writeCycle(w: CycleWrite): AlertEvent[] {
    return this.db.transaction(() => {
      this.samples.insertCycle(w.ts, w.hosts, { states: w.states });
      const events = this.alerts.apply(w.alertChanges, w.alertsAt);
      if (w.planNotifications && events.length > 0) this.outbox.enqueue(w.planNotifications(events, (id) => this.alerts.get(id)));
      return events;
    })();
  }

  /**
   * One slice of a cycle's samples (and states) in its own short transaction: a large fleet's cycle is written in
   * slices with the event loop free between them (Monitor), then writeAlerts closes it.
   */
  writeSamples(ts: number, hosts: Host[], states: boolean): void {
    this.db.transaction(() => this.samples.insertCycle(ts, hosts, { states }))();
  }

  /** A cycle's alert changes and the notifications they cause, in one transaction; returns the events to publish. */
  writeAlerts(w: Omit<CycleWrite, 'ts' | 'hosts' | 'states'>): AlertEvent[] {
    return this.db.transaction(() => {
      const events = this.alerts.apply(w.alertChanges, w.alertsAt);
      if (w.planNotifications && events.length > 0) this.outbox.enqueue(w.planNotifications(events, (id) => this.alerts.get(id)));
      return events;
    })();
  }

  /** An acknowledgement and the notifications it causes, in one transaction. */
  acknowledge(id: string, by: string, note: string | null, at: number, plan?: (alert: Alert) => OutboxPlan[]): Alert | undefined {
    return this.db.transaction(() => {
      const alert = this.alerts.acknowledge(id, by, note, at);
      if (alert && plan) this.outbox.enqueue(plan(alert));
      return alert;
    })();
  }
}
