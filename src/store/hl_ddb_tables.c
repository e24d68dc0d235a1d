/* `hookloop tables create`: the tables of docs/interface.md §6 and the events
 * table, one after the other — CreateTable, wait for ACTIVE, next — then TTL
 * on the ledger and the events table, and point-in-time recovery on the
 * events table (which is created encrypted under the AWS managed KMS key).
 * A state machine on the loop like every other DynamoDB call. */
#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_sm.h"
#include "store/hl_store_ddb.h"

#define POLL_MS 200
#define ACTIVE_WAIT_MS (120 * 1000)

typedef enum { T_CREATE, T_DESCRIBE, T_SETTING, T_DONE } tstate;

typedef struct {
  hl_store *store;
  hl_ddb_client *c;
  const hl_table_names *names;
  tstate state;
  int table;             /* 0..NTABLES-1 */
  int setting;           /* 0..NSETTINGS-1 */
  uint64_t wait_started;
  hl_timerq_node poll;
  hl_buf report;
  int status;
  void (*done)(void *data, int status, const char *report);
  void *data;
} tables_job;

typedef struct {
  hl_ddb_key_def hash, range;
  bool kms; /* encrypted under the AWS managed KMS key (the events table: payment records) */
  const hl_ddb_gsi *gsi;
} key_schema;

#define NTABLES 11
#define EVENTS 9

/* The DynamoDB queue's sparse index of open rows by due time
 * (queue/hl_queue_ddb.h). */
static const hl_ddb_gsi due_index = {"due", {"due_shard", 'N'}, {"due_key", 'S'}};

/* One subscription's deliveries by update time (delivery_search). */
static const hl_ddb_gsi by_subscription_index = {HL_DDB_DELIVERY_SUB_INDEX, {"subscription_id", 'S'},
                                                 {"updated_at", 'N'}};

static const key_schema keys[NTABLES] = {
    {{"schema_id", 'S'}, {"version", 'N'}, false, NULL},
    {{"partner_id", 'S'}, {"event_type", 'S'}, false, NULL},
    {{"event_type", 'S'}, {NULL, 0}, false, NULL},
    {{"event_id", 'S'}, {"subscription_id", 'S'}, false, &by_subscription_index},
    {{"idempotency_key", 'S'}, {NULL, 0}, false, NULL},
    {{"shard", 'N'}, {"due_key", 'S'}, false, NULL},
    {{"transformation_id", 'S'}, {"version", 'N'}, false, NULL},
    {{"partner_id", 'S'}, {NULL, 0}, false, NULL},
    {{"delivery_id", 'S'}, {"slot", 'N'}, false, NULL},
    {{"event_id", 'S'}, {NULL, 0}, true, NULL},
    {{"event_id", 'S'}, {"subscription_id", 'S'}, false, &due_index},
};

/* What is set once every table is ACTIVE, in order. */
typedef enum { SET_TTL, SET_PITR } setting_kind;
static const struct {
  setting_kind kind;
  int table;
} settings[] = {
    {SET_TTL, 3},      /* deliveries' expires_at (retention, once SUCCESS or FAILED) */
    {SET_TTL, 4},      /* the ledger's expires_at */
    {SET_TTL, 8},      /* attempts' expires_at (retention) */
    {SET_TTL, EVENTS}, /* EVENTS_TTL_DAYS writes expires_at; none is written otherwise */
    {SET_PITR, EVENTS},
};
#define NSETTINGS ((int)(sizeof settings / sizeof settings[0]))

static const char *table_name(tables_job *j, int i) {
  const char *n[NTABLES] = {j->names->schema_table, j->names->subscription_table, j->names->kafka_table,
                            j->names->delivery_table, j->names->ledger_table, j->names->parked_table,
                            j->names->transform_table, j->names->partner_table, j->names->attempt_table,
                            j->names->events_table, j->names->queue_table};
  return n[i];
}

static void step(tables_job *j);

/* The one place the job changes state; illegal moves are bugs. */
static void transition(tables_job *j, tstate to) {
  static const char *const names[] = {"CREATE", "DESCRIBE", "SETTING", "DONE"};
  static const unsigned allowed[] = {
    [T_CREATE] = HL_SM_TO(T_DESCRIBE) | HL_SM_TO(T_DONE),
    [T_DESCRIBE] = HL_SM_TO(T_CREATE) | HL_SM_TO(T_SETTING) | HL_SM_TO(T_DONE),
    [T_SETTING] = HL_SM_TO(T_SETTING) | HL_SM_TO(T_DONE),
    [T_DONE] = 0,
  };
  hl_sm_check("tables create", allowed, names, j->state, to);
  j->state = to;
}

static void say(tables_job *j, const char *fmt, const char *a, const char *b) {
  char line[512];
  snprintf(line, sizeof line, fmt, a, b ? b : "");
  hl_buf_puts(&j->report, line);
  hl_buf_putc(&j->report, '\n');
}

static void fail(tables_job *j, int table, const char *what, const hl_aws_status *st) {
  char line[512];
  snprintf(line, sizeof line, "%s: %s failed: %s %s (HTTP %d)", table_name(j, table), what,
           st->code[0] ? st->code : hl_aws_outcome_name(st->outcome), st->message, st->http_status);
  hl_buf_puts(&j->report, line);
  hl_buf_putc(&j->report, '\n');
  j->status = HL_ESTORE;
  transition(j, T_DONE);
}

/* A setting's answer: done, already so, or not supported by this endpoint
 * (dynalite has neither UpdateTimeToLive nor UpdateContinuousBackups): a
 * warning, since the tables work without them. */
static void setting_answer(tables_job *j, const hl_aws_status *st) {
  int t = settings[j->setting].table;
  bool ttl = settings[j->setting].kind == SET_TTL;
  const char *what = ttl ? "UpdateTimeToLive" : "UpdateContinuousBackups";
  if (st->outcome == HL_AWS_OK) {
    say(j, ttl ? "%s: TTL enabled on expires_at" : "%s: point-in-time recovery enabled", table_name(j, t), NULL);
  } else if (st->outcome == HL_AWS_UNKNOWN_OP) {
    say(j, "warning: %s: this endpoint does not support %s; set it on the table yourself where it matters",
        table_name(j, t), what);
  } else if (st->outcome == HL_AWS_VALIDATION && strstr(st->message, "already enabled")) {
    say(j, ttl ? "%s: TTL already enabled on expires_at" : "%s: point-in-time recovery already enabled",
        table_name(j, t), NULL);
  } else {
    fail(j, t, what, st);
    return;
  }
  if (++j->setting < NSETTINGS) transition(j, T_SETTING);
  else transition(j, T_DONE);
}

static void on_answer(void *data, const hl_aws_status *st, const hl_json *resp) {
  tables_job *j = data;
  switch (j->state) {
    case T_CREATE:
      if (st->outcome == HL_AWS_OK) {
        say(j, keys[j->table].kms ? "%s: created (on-demand billing, encrypted with the AWS managed KMS key)"
                                  : "%s: created (on-demand billing)",
            table_name(j, j->table), NULL);
      } else if (st->outcome == HL_AWS_IN_USE) {
        say(j, "%s: exists already", table_name(j, j->table), NULL);
      } else {
        fail(j, j->table, "CreateTable", st);
        break;
      }
      transition(j, T_DESCRIBE);
      j->wait_started = hl_mono_ms();
      break;
    case T_DESCRIBE: {
      if (st->outcome != HL_AWS_OK) {
        fail(j, j->table, "DescribeTable", st);
        break;
      }
      const char *ts = hl_json_str(hl_json_pointer(resp, "/Table/TableStatus", sizeof "/Table/TableStatus" - 1));
      if (ts && strcmp(ts, "ACTIVE") == 0) {
        j->table++;
        transition(j, j->table < NTABLES ? T_CREATE : T_SETTING);
      } else if (hl_mono_ms() - j->wait_started > ACTIVE_WAIT_MS) {
        say(j, "%s: still %s after two minutes; run the command again later", table_name(j, j->table),
            ts ? ts : "not ACTIVE");
        j->status = HL_ETIMEOUT;
        transition(j, T_DONE);
      }
      break;
    }
    case T_SETTING:
      setting_answer(j, st);
      break;
    case T_DONE:
      break;
  }
  step(j);
}

static void on_poll(hl_timerq_node *n) {
  tables_job *j = hl_container_of(n, tables_job, poll);
  hl_buf body = HL_BUF_INIT;
  hl_ddb_describe_table(&body, table_name(j, j->table));
  hl_ddb_call(j->c, HL_DDB_DESCRIBE_TABLE, &body, on_answer, j);
}

static void step(tables_job *j) {
  hl_buf body = HL_BUF_INIT;
  switch (j->state) {
    case T_CREATE: {
      const key_schema *k = &keys[j->table];
      hl_ddb_create_table_sse(&body, table_name(j, j->table), k->hash, k->range, k->gsi, k->gsi ? 1 : 0, k->kms);
      hl_ddb_call(j->c, HL_DDB_CREATE_TABLE, &body, on_answer, j);
      return;
    }
    case T_DESCRIBE:
      /* The first look comes at once; later ones after a pause. */
      hl_timerq_add(&j->c->timers, &j->poll, hl_mono_ms() - j->wait_started < 5 ? 0 : POLL_MS, on_poll);
      return;
    case T_SETTING: {
      const char *t = table_name(j, settings[j->setting].table);
      if (settings[j->setting].kind == SET_TTL) {
        hl_ddb_update_ttl(&body, t, "expires_at", true);
        hl_ddb_call(j->c, HL_DDB_UPDATE_TIME_TO_LIVE, &body, on_answer, j);
      } else {
        hl_ddb_update_pitr(&body, t, true);
        hl_ddb_call(j->c, HL_DDB_UPDATE_CONTINUOUS_BACKUPS, &body, on_answer, j);
      }
      return;
    }
    case T_DONE: {
      hl_buf_putc(&j->report, '\0');
      j->done(j->data, j->status, j->report.data);
      hl_buf_dispose(&j->report);
      hl_free(j);
      return;
    }
  }
}

void hl_ddb_tables_create(hl_store *s, void (*done)(void *data, int status, const char *report), void *data) {
  tables_job *j = hl_calloc(1, sizeof *j);
  j->store = s;
  j->c = hl_store_ddb_client(s);
  j->names = hl_store_ddb_tables(s);
  j->done = done;
  j->data = data;
  step(j);
}
