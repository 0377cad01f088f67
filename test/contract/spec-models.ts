/**
 * The TMUX Fleet Dashboard specification's data models, written down once as data: field → type. Source: the
 * specification's models as issue 14 quotes them ("The models (the specification's, in its words)"). This file
 * is deliberately independent of src/core/model.ts: it is what a client written against the specification
 * expects, and the contract test holds fleetmon's answers against it.
 *
 * Types: `string`, `integer`, `number`, `boolean`, `datetime` (ISO 8601), a list of literals (an enum), a model
 * name (an object of that model), `X[]` (a list of X), `number[3]` (exactly three), `|null` where fleetmon
 * documents that a figure may not be known yet (the specification leaves unknowns unsaid; fleetmon says null).
 */
export type FieldType = string | readonly string[] | { enum: readonly string[]; extensible: true };

/** The specification's seven alert types; fleetmon's own (host_key_changed, …) extend the list. */
export const SPEC_ALERT_TYPES = ['legacy_session', 'high_cpu', 'high_memory', 'host_offline', 'gpu_temp_warning', 'gpu_temp_critical', 'gpu_memory_high'] as const;

export const SPEC_MODELS: Record<string, Record<string, FieldType>> = {
  Host: {
    hostname: 'string',
    address: 'string',
    last_seen: 'datetime|null',
    status: ['online', 'offline', 'degraded'],
    cpu_percent: 'number|null',
    memory_percent: 'number|null',
    memory_used_mb: 'number|null',
    memory_total_mb: 'number|null',
    load_avg: 'number[3]|null',
    gpus: 'GPU[]',
    sessions: 'Session[]',
    has_gpu: 'boolean',
  },
  GPU: {
    index: 'integer',
    name: 'string',
    power_draw_watts: 'number|null',
    power_limit_watts: 'number|null',
    memory_used_mb: 'number|null',
    memory_total_mb: 'number|null',
    utilization_percent: 'number|null',
    temperature_c: 'number|null',
    processes: 'GPUProcess[]',
  },
  GPUProcess: { pid: 'integer', name: 'string', memory_mb: 'number|null' },
  Session: {
    id: 'session-id',
    host: 'string',
    name: 'string',
    created: 'datetime',
    last_activity: 'datetime|null',
    attached: 'boolean',
    window_count: 'integer',
    status: ['active', 'legacy'],
    pids: 'integer[]',
    cpu_percent: 'number|null',
    memory_mb: 'number',
    gpu_memory_mb: 'number',
  },
  Alert: {
    id: 'string',
    type: { enum: SPEC_ALERT_TYPES, extensible: true },
    severity: ['info', 'warning', 'critical'],
    host: 'string',
    session: 'string|null',
    message: 'string',
    created: 'datetime',
    acknowledged: 'boolean',
  },
  AlertCleared: { id: 'string' },
};

/** The specification's WebSocket events: name → the model of `data` (`X[]` a list). */
export const SPEC_EVENTS: Record<string, string> = { hosts_update: 'Host[]', alert_new: 'Alert', alert_cleared: 'AlertCleared' };
