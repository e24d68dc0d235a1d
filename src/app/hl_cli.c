#include "app/hl_cli.h"
#include "app/hl_app_store.h"
#include "store/hl_store_ddb.h"
#include "store/hl_store_pg.h"
#include "app/hl_config.h"
#include "app/hl_app_inbox.h"
#include "app/hl_lambda.h"
#include "app/hl_serve.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "handlers/hl_pipeline.h"
#include "model/hl_retry.h"
#include "schema/hl_schema_cli.h"
#include "transform/hl_transform_cli.h"

#include <libgen.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "hookloop %s — webhook delivery engine\n"
          "\n"
          "usage:\n"
          "  hookloop serve [--config FILE]              run the service: HTTP API, processor, dispatcher\n"
          "  hookloop lambda                             run as an AWS Lambda custom runtime\n"
          "  hookloop inbox [--poll] [--config FILE]     pull pending events from the inbox (API_BASE_URL),\n"
          "                                              deliver and acknowledge them: one pass, or every\n"
          "                                              INBOX_POLL_INTERVAL_S with --poll\n"
          "  hookloop schema check SCHEMA [INSTANCE...]  validate JSON files against a JSON Schema\n"
          "                                              (no INSTANCE: one JSON document per stdin line)\n"
          "  hookloop transform check SPEC [EVENT...]    apply a transformation spec to JSON events\n"
          "                                              (no EVENT: one event per stdin line)\n"
          "  hookloop tables create                      create the DynamoDB tables\n"
          "  hookloop retry-topics                       print the retry topic of each tier of\n"
          "                                              HOOKLOOP_RETRY_SCHEDULE, one per line\n"
          "  hookloop version                            print the version\n"
          "\n"
          "Configuration comes from the environment (HOOKLOOP_LISTEN, HOOKLOOP_DATA_DIR, ...);\n"
          "see the README for the full list.\n",
          HOOKLOOP_VERSION);
}

/* Loads the configuration (file, then environment) and applies LOG_LEVEL.
 * On failure the configuration is disposed already. */
static int load_config(hl_config *cfg, const char *file) {
  hl_buf err = HL_BUF_INIT;
  if (hl_config_load(cfg, file, &err) != 0) {
    fprintf(stderr, "hookloop: %s\n", err.data ? err.data : "invalid configuration");
    hl_buf_dispose(&err);
    hl_config_dispose(cfg); /* loaded as far as it went: its strings are owned */
    return -1;
  }
  hl_buf_dispose(&err);
  hl_log_set_level(cfg->log_level);
  return 0;
}

/* glibc gives a thread that allocates while another holds an arena's lock
 * an arena of its own (up to 8 per core): the threadpool's SQLite commits
 * and AWS calls then keep pages resident in four or more arenas beside the
 * loop thread's, almost all of them free (bench/README.md, "Memory in
 * scenario b": -2.9 MB of 10,000 requests in flight with one arena). serve
 * keeps one, before any thread starts, unless the operator chose with
 * MALLOC_ARENA_MAX or the glibc.malloc.arena_max tunable. */
static void limit_malloc_arenas(void) {
#ifdef M_ARENA_MAX
  const char *t = getenv("GLIBC_TUNABLES");
  if (getenv("MALLOC_ARENA_MAX") || (t && strstr(t, "glibc.malloc.arena_max"))) return;
  mallopt(M_ARENA_MAX, 1);
#endif
}

static int cmd_serve(int argc, char **argv) {
  const char *file = NULL;
  limit_malloc_arenas();
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
    else {
      fprintf(stderr, "hookloop serve: unknown argument '%s'; usage: hookloop serve [--config FILE]\n", argv[i]);
      return 2;
    }
  }
  hl_config cfg;
  if (load_config(&cfg, file) != 0) return 2;
  hl_buf d = HL_BUF_INIT;
  hl_config_describe(&cfg, &d);
  hl_log_info("configuration", "\"config\":%s", d.data ? d.data : "{}");
  hl_buf_dispose(&d);
  int rc = hl_serve_run(&cfg);
  hl_config_dispose(&cfg);
  return rc;
}

static int cmd_inbox(int argc, char **argv) {
  const char *file = NULL;
  bool poll = false;
  for (int i = 2; i < argc; i++) {
    if (strcmp(argv[i], "--poll") == 0) poll = true;
    else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) file = argv[++i];
    else if (strncmp(argv[i], "--config=", 9) == 0) file = argv[i] + 9;
    else {
      fprintf(stderr, "hookloop inbox: unknown argument '%s'; usage: hookloop inbox [--poll] [--config FILE]\n",
              argv[i]);
      return 2;
    }
  }
  hl_config cfg;
  if (load_config(&cfg, file) != 0) return 2;
  int rc = hl_app_inbox_run(&cfg, poll);
  hl_config_dispose(&cfg);
  return rc;
}

typedef struct {
  int status;
  bool done;
} tables_result;

static void on_tables_created(void *data, int status, const char *report) {
  tables_result *r = data;
  fputs(report, status == 0 ? stdout : stderr);
  r->status = status;
  r->done = true;
}

/* PostgreSQL: the store runs its migrations when it opens; this waits for them. */
static void on_pg_ready(void *data, int status, const char *msg) {
  tables_result *r = data;
  if (status == 0) printf("postgres: schema at version %s (migrations applied, or already there)\n", msg);
  else fprintf(stderr, "hookloop tables create: postgres: %s\n", msg);
  r->status = status;
  r->done = true;
}

/* Runs the table creation (DynamoDB) or the migrations (PostgreSQL) on a
 * loop of its own and waits for it. */
static int tables_create(const hl_config *cfg) {
  uv_loop_t loop;
  hl_curl_uv curl;
  hl_store *store = NULL;
  char err[512] = "";
  uv_loop_init(&loop);
  hl_curl_global_init();
  hl_curl_uv_init(&curl, &loop, 16);
  int rc = hl_app_store_open(&loop, &curl, cfg, cfg->data_dir, false, &store, err, sizeof err);
  tables_result res = {0};
  bool pg = cfg->store == HL_STORE_POSTGRES;
  if (rc != 0) {
    fprintf(stderr, "hookloop tables create: %s\n", err);
  } else {
    if (pg) hl_store_pg_ready(store, on_pg_ready, &res);
    else hl_ddb_tables_create(store, on_tables_created, &res);
    while (!res.done && uv_run(&loop, UV_RUN_ONCE)) {}
    hl_app_store_close_wait(store, &loop);
    if (res.status != 0 && !pg)
      fprintf(stderr, "hookloop tables create: failed; check DYNAMODB_ENDPOINT / AWS_REGION, the credentials "
                      "and the dynamodb:CreateTable, DescribeTable and UpdateTimeToLive permissions\n");
  }
  hl_curl_uv_end_run(&curl, &loop);
  return rc != 0 ? 2 : res.status != 0 ? 1 : 0;
}

static int cmd_tables(int argc, char **argv) {
  if (argc < 3 || strcmp(argv[2], "create") != 0) {
    fprintf(stderr, "hookloop tables: usage: hookloop tables create\n");
    return 2;
  }
  hl_config cfg;
  if (load_config(&cfg, NULL) != 0) return 2;
  int rc = 0;
  if (cfg.store == HL_STORE_SQLITE) {
    printf("HOOKLOOP_STORE is sqlite: its tables are created on start; nothing to do\n");
  } else {
    rc = tables_create(&cfg);
  }
  hl_config_dispose(&cfg);
  return rc;
}

/* The topics a dispatcher of this configuration produces retries to (the
 * Lambda deployment consumes exactly these: deploy/lambda/build.sh writes
 * one event source mapping per line). */
static int cmd_retry_topics(void) {
  hl_config cfg;
  if (load_config(&cfg, NULL) != 0) return 2;
  hl_retry_schedule *sch = NULL;
  hl_buf err = HL_BUF_INIT;
  int rc = 0;
  if (hl_retry_schedule_parse(cfg.retry_schedule, &sch, &err) != 0) {
    fprintf(stderr, "hookloop retry-topics: HOOKLOOP_RETRY_SCHEDULE: %s\n", err.data ? err.data : "invalid");
    rc = 2;
  }
  char seen[64][300];
  size_t nseen = 0;
  for (size_t i = 0; sch && i < sch->n; i++) {
    char topic[300];
    hl_retry_tier_topic(cfg.retry_topic_prefix, sch->delay_ms[i], topic, sizeof topic);
    bool dup = false;
    for (size_t k = 0; k < nseen; k++) dup |= strcmp(seen[k], topic) == 0;
    if (dup) continue;
    snprintf(seen[nseen++], sizeof seen[0], "%s", topic);
    printf("%s\n", topic);
  }
  hl_retry_schedule_free(sch);
  hl_buf_dispose(&err);
  hl_config_dispose(&cfg);
  return rc;
}

static int cmd_lambda(void) {
  hl_config cfg;
  hl_buf err = HL_BUF_INIT;
  if (hl_config_load(&cfg, NULL, &err) != 0) {
    /* Lambda shows init errors only when they reach the Runtime API. */
    fprintf(stderr, "hookloop: %s\n", err.data ? err.data : "invalid configuration");
    int rc = hl_lambda_report_init_error(err.data ? err.data : "invalid configuration");
    hl_buf_dispose(&err);
    hl_config_dispose(&cfg);
    return rc;
  }
  hl_buf_dispose(&err);
  hl_log_set_level(cfg.log_level);
  int rc = hl_lambda_run(&cfg);
  hl_config_dispose(&cfg);
  return rc;
}

int hl_cli_main(int argc, char **argv) {
  /* Lambda custom runtimes start the binary as "bootstrap". */
  char self[4096];
  snprintf(self, sizeof self, "%s", argv[0]);
  if (strcmp(basename(self), "bootstrap") == 0) return cmd_lambda();
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("hookloop %s\n", HOOKLOOP_VERSION);
    return 0;
  }
  if (strcmp(cmd, "serve") == 0) return cmd_serve(argc, argv);
  if (strcmp(cmd, "lambda") == 0) return cmd_lambda();
  if (strcmp(cmd, "inbox") == 0) return cmd_inbox(argc, argv);
  if (strcmp(cmd, "tables") == 0) return cmd_tables(argc, argv);
  if (strcmp(cmd, "retry-topics") == 0) return cmd_retry_topics();
  if (strcmp(cmd, "schema") == 0) {
    if (argc < 3 || strcmp(argv[2], "check") != 0) {
      fprintf(stderr, "hookloop schema: usage: hookloop schema check SCHEMA [INSTANCE...]\n");
      return 2;
    }
    return hl_schema_cli_check(argc - 3, argv + 3);
  }
  if (strcmp(cmd, "transform") == 0) {
    if (argc < 3 || strcmp(argv[2], "check") != 0) {
      fprintf(stderr, "hookloop transform: usage: hookloop transform check SPEC [EVENT...]\n");
      return 2;
    }
    return hl_transform_cli_check(argc - 3, argv + 3);
  }
  fprintf(stderr, "hookloop: unknown command '%s'; run 'hookloop --help' for the list\n", cmd);
  return 2;
}
