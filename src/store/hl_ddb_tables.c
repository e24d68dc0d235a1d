/* `hookloop tables create`: the tables of docs/interface.md §6, one after the
 * other — CreateTable, wait for ACTIVE, next — then TTL on the ledger.
 * A state machine on the loop like every other DynamoDB call. */
#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "common/hl_sm.h"
#include "store/hl_store_ddb.h"

#define POLL_MS 200
#define ACTIVE_WAIT_MS (120 * 1000)

typedef enum { T_CREATE, T_DESCRIBE, T_TTL, T_DONE } tstate;

typedef struct {
  hl_store *store;
  hl_ddb_client *c;
  const hl_table_names *names;
  tstate state;
  int table;             /* 0..NTABLES-1 */
  uint64_t wait_started;
  hl_timerq_node poll;
  hl_buf report;
  int status;
  void (*done)(void *data, int status, const char *report);
  void *data;
} tables_job;

typedef struct {
  hl_ddb_key_def hash, range;
} key_schema;

#define NTABLES 9

static const key_schema keys[NTABLES] = {
    {{"schema_id", 'S'}, {"version", 'N'}},
    {{"partner_id", 'S'}, {"event_type", 'S'}},
    {{"event_type", 'S'}, {NULL, 0}},
    {{"event_id", 'S'}, {"subscription_id", 'S'}},
    {{"idempotency_key", 'S'}, {NULL, 0}},
    {{"shard", 'N'}, {"due_key", 'S'}},
    {{"transformation_id", 'S'}, {"version", 'N'}},
    {{"partner_id", 'S'}, {NULL, 0}},
    {{"delivery_id", 'S'}, {"slot", 'N'}},
};

static const char *table_name(tables_job *j, int i) {
  const char *n[NTABLES] = {j->names->schema_table, j->names->subscription_table, j->names->kafka_table,
                            j->names->delivery_table, j->names->ledger_table, j->names->parked_table,
                            j->names->transform_table, j->names->partner_table, j->names->attempt_table};
  return n[i];
}

static void step(tables_job *j);

/* The one place the job changes state; illegal moves are bugs. */
static void transition(tables_job *j, tstate to) {
  static const char *const names[] = {"CREATE", "DESCRIBE", "TTL", "DONE"};
  static const unsigned allowed[] = {
    [T_CREATE] = HL_SM_TO(T_DESCRIBE) | HL_SM_TO(T_DONE),
    [T_DESCRIBE] = HL_SM_TO(T_CREATE) | HL_SM_TO(T_TTL) | HL_SM_TO(T_DONE),
    [T_TTL] = HL_SM_TO(T_DONE),
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

static void fail(tables_job *j, const char *what, const hl_aws_status *st) {
  char line[512];
  snprintf(line, sizeof line, "%s: %s failed: %s %s (HTTP %d)", table_name(j, j->table), what,
           st->code[0] ? st->code : hl_aws_outcome_name(st->outcome), st->message, st->http_status);
  hl_buf_puts(&j->report, line);
  hl_buf_putc(&j->report, '\n');
  j->status = HL_ESTORE;
  transition(j, T_DONE);
}

static void on_answer(void *data, const hl_aws_status *st, const hl_json *resp) {
  tables_job *j = data;
  switch (j->state) {
    case T_CREATE:
      if (st->outcome == HL_AWS_OK) {
        say(j, "%s: created (on-demand billing)", table_name(j, j->table), NULL);
      } else if (st->outcome == HL_AWS_IN_USE) {
        say(j, "%s: exists already", table_name(j, j->table), NULL);
      } else {
        fail(j, "CreateTable", st);
        break;
      }
      transition(j, T_DESCRIBE);
      j->wait_started = hl_mono_ms();
      break;
    case T_DESCRIBE: {
      if (st->outcome != HL_AWS_OK) {
        fail(j, "DescribeTable", st);
        break;
      }
      const char *ts = hl_json_str(hl_json_pointer(resp, "/Table/TableStatus", sizeof "/Table/TableStatus" - 1));
      if (ts && strcmp(ts, "ACTIVE") == 0) {
        j->table++;
        transition(j, j->table < NTABLES ? T_CREATE : T_TTL);
      } else if (hl_mono_ms() - j->wait_started > ACTIVE_WAIT_MS) {
        say(j, "%s: still %s after two minutes; run the command again later", table_name(j, j->table),
            ts ? ts : "not ACTIVE");
        j->status = HL_ETIMEOUT;
        transition(j, T_DONE);
      }
      break;
    }
    case T_TTL:
      if (st->outcome == HL_AWS_OK) {
        say(j, "%s: TTL enabled on expires_at", table_name(j, 4), NULL);
      } else if (st->outcome == HL_AWS_UNKNOWN_OP) {
        say(j, "warning: %s: this endpoint does not support UpdateTimeToLive; expired ledger entries are "
               "ignored by hookloop but not removed",
            table_name(j, 4), NULL);
      } else if (st->outcome == HL_AWS_VALIDATION && strstr(st->message, "already enabled")) {
        say(j, "%s: TTL already enabled on expires_at", table_name(j, 4), NULL);
      } else {
        fail(j, "UpdateTimeToLive", st);
        break;
      }
      transition(j, T_DONE);
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
    case T_CREATE:
      hl_ddb_create_table(&body, table_name(j, j->table), keys[j->table].hash, keys[j->table].range, NULL, 0);
      hl_ddb_call(j->c, HL_DDB_CREATE_TABLE, &body, on_answer, j);
      return;
    case T_DESCRIBE:
      /* The first look comes at once; later ones after a pause. */
      hl_timerq_add(&j->c->timers, &j->poll, hl_mono_ms() - j->wait_started < 5 ? 0 : POLL_MS, on_poll);
      return;
    case T_TTL:
      hl_ddb_update_ttl(&body, table_name(j, 4), "expires_at", true);
      hl_ddb_call(j->c, HL_DDB_UPDATE_TIME_TO_LIVE, &body, on_answer, j);
      return;
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
