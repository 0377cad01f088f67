/**
 * Numbered migrations, applied in one transaction each and tracked in `user_version`. Never edit a released
 * migration: add the next number.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
      CREATE TABLE host_samples (
        ts INTEGER NOT NULL,                -- epoch ms of the poll cycle
        host TEXT NOT NULL,
        status TEXT NOT NULL,
        cpu_percent REAL, memory_percent REAL, memory_used_mb REAL, load_1 REAL,
        net_rx_bps REAL, net_tx_bps REAL,
        gpu_temp_max REAL, gpu_power_w REAL, gpu_util_percent REAL, gpu_memory_percent REAL,
        session_count INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      CREATE INDEX host_samples_host_ts ON host_samples (host, ts);
      CREATE INDEX host_samples_ts ON host_samples (ts);

      CREATE TABLE session_samples (
        ts INTEGER NOT NULL,
        host TEXT NOT NULL,
        session_id TEXT NOT NULL,
        cpu_percent REAL, rss_mb REAL, gpu_memory_mb REAL,
        attached INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX session_samples_id_ts ON session_samples (session_id, ts);
      CREATE INDEX session_samples_ts ON session_samples (ts);

      -- Hourly aggregates outlive the raw samples, so week and month charts stay cheap and the file stays bounded.
      CREATE TABLE host_samples_hourly (
        hour INTEGER NOT NULL,              -- epoch ms at the start of the hour
        host TEXT NOT NULL,
        samples INTEGER NOT NULL,
        cpu_percent REAL, memory_percent REAL, memory_used_mb REAL, load_1 REAL,
        net_rx_bps REAL, net_tx_bps REAL,
        gpu_temp_max REAL, gpu_power_w REAL, gpu_util_percent REAL, gpu_memory_percent REAL,
        session_count REAL,
        PRIMARY KEY (host, hour)
      ) STRICT;

      CREATE TABLE host_state (
        host TEXT PRIMARY KEY,
        updated_at INTEGER NOT NULL,
        snapshot TEXT NOT NULL              -- the last Host object as JSON, shown until the first poll after a restart
      ) STRICT;

      CREATE TABLE host_keys (
        host TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        key_type TEXT NOT NULL,
        first_seen_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE alerts (
        id TEXT PRIMARY KEY,                -- type:host[:session|:gpuN]#n, stable per condition episode
        condition_key TEXT NOT NULL,
        type TEXT NOT NULL,
        severity TEXT NOT NULL,
        host TEXT NOT NULL,
        session TEXT,
        gpu_index INTEGER,
        message TEXT NOT NULL,
        value REAL,
        threshold REAL,
        state TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        resolved_at INTEGER,
        acknowledged_at INTEGER,
        acknowledged_by TEXT,
        ack_note TEXT
      ) STRICT;
      CREATE UNIQUE INDEX alerts_one_open_per_condition ON alerts (condition_key) WHERE state = 'open';
      CREATE INDEX alerts_state_created ON alerts (state, created_at);

      CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        result TEXT NOT NULL,
        detail TEXT
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'notification outbox',
    sql: `
      -- The outbox: a row per (alert event, channel), written in the poll cycle's transaction and sent after it, so
      -- an event is neither lost nor sent twice across restarts. key is the idempotency key receivers see.
      CREATE TABLE notifications (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,           -- alert|channel|event[|n]
        channel TEXT NOT NULL,
        alert_id TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ('new', 'updated', 'reminder', 'resolved', 'acknowledged', 'test')),
        state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'dropped')),
        created_at INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL,   -- not before: the 'for' delay, quiet hours, backoff, the rate limit
        attempts INTEGER NOT NULL DEFAULT 0,
        last_attempt_at INTEGER,
        delivered_at INTEGER,
        last_error TEXT,
        detail TEXT                         -- why it was dropped or is held
      ) STRICT;
      CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
      CREATE INDEX notifications_alert_channel ON notifications (alert_id, channel, event);
      CREATE INDEX notifications_channel_delivered ON notifications (channel, delivered_at);
    `,
  },
];
