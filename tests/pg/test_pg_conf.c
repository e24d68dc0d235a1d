/* PostgreSQL settings (src/loop/hl_pg_conf.c) and the reconnect back-off:
 * no server needed. */
#include "hl_test.h"
#include "pg_util.h"

#include <string.h>

/* Loads e; returns the error line ("" when it loaded). */
static const char *load(pg_env *e, hl_pg_conf *c) {
  static char line[512];
  hl_buf err = HL_BUF_INIT;
  int rc = hl_pg_conf_load(c, pg_env_lookup, e, &err);
  snprintf(line, sizeof line, "%s", err.data ? err.data : "");
  hl_buf_dispose(&err);
  HL_ASSERT_EQ_INT(rc == 0, line[0] == '\0');
  return line;
}

static void expect_error(pg_env *e, const char *prefix) {
  hl_pg_conf c;
  const char *err = load(e, &c);
  HL_ASSERT_MSG(strncmp(err, prefix, strlen(prefix)) == 0, "want \"%s...\", got \"%s\"", prefix, err);
  hl_pg_conf_dispose(&c);
}

static pg_env aurora(void) {
  pg_env e = {0};
  pg_env_set(&e, "AURORA_ENDPOINT", "mydb.cluster-abc.eu-west-1.rds.amazonaws.com");
  pg_env_set(&e, "DATABASE_NAME", "events");
  pg_env_set(&e, "DATABASE_USER", "app");
  pg_env_set(&e, "DATABASE_PASSWORD", "s3cret");
  return e;
}

HL_TEST(aurora_variables_give_libpq_keywords) {
  pg_env e = aurora();
  hl_pg_conf c;
  HL_ASSERT_EQ_STR(load(&e, &c), "");
  HL_ASSERT_EQ_INT(c.source, HL_PG_FROM_AURORA);
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "host"), "mydb.cluster-abc.eu-west-1.rds.amazonaws.com");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "port"), "5432");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "dbname"), "events");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "user"), "app");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "password"), "s3cret");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "application_name"), "hookloop");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "client_encoding"), "UTF8");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "gssencmode"), "disable");
  HL_ASSERT(hl_pg_conf_get(&c, "sslmode") == NULL); /* PGSSLMODE applies */
  HL_ASSERT(c.keywords[c.n] == NULL && c.values[c.n] == NULL);
  hl_pg_conf_dispose(&c);

  pg_env_set(&e, "DATABASE_PORT", "6543");
  HL_ASSERT_EQ_STR(load(&e, &c), "");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "port"), "6543");
  HL_ASSERT(c.port_set);
  hl_pg_conf_dispose(&c);

  pg_env_set(&e, "DATABASE_PORT", NULL);
  pg_env_set(&e, "AURORA_ENDPOINT", "db.internal:5433");
  HL_ASSERT_EQ_STR(load(&e, &c), "");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "host"), "db.internal");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "port"), "5433");
  hl_pg_conf_dispose(&c);

  pg_env_set(&e, "AURORA_ENDPOINT", "::1"); /* an IPv6 literal is no host:port */
  HL_ASSERT_EQ_STR(load(&e, &c), "");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "host"), "::1");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "port"), "5432");
  hl_pg_conf_dispose(&c);
}

HL_TEST(bad_aurora_settings_name_the_variable) {
  pg_env none = {0};
  expect_error(&none, "DATABASE_URL: not set (nor AURORA_ENDPOINT");
  const char *required[] = {"DATABASE_NAME", "DATABASE_USER", "DATABASE_PASSWORD"};
  for (int i = 0; i < 3; i++) {
    pg_env e = aurora();
    pg_env_set(&e, required[i], "");
    char want[64];
    snprintf(want, sizeof want, "%s: not set", required[i]);
    expect_error(&e, want);
  }
  const char *ports[] = {"0", "65536", "54a", "-1", "123456"};
  for (int i = 0; i < 5; i++) {
    pg_env e = aurora();
    pg_env_set(&e, "DATABASE_PORT", ports[i]);
    expect_error(&e, "DATABASE_PORT: ");
  }
  pg_env e = aurora();
  pg_env_set(&e, "AURORA_ENDPOINT", "postgresql://db/x");
  expect_error(&e, "AURORA_ENDPOINT: a host name is expected");
  pg_env_set(&e, "AURORA_ENDPOINT", "db:99999");
  expect_error(&e, "AURORA_ENDPOINT: the port");
  pg_env_set(&e, "AURORA_ENDPOINT", "db:5433");
  pg_env_set(&e, "DATABASE_PORT", "5433");
  expect_error(&e, "DATABASE_PORT: set, but AURORA_ENDPOINT names a port too");
}

HL_TEST(database_url_wins_and_is_parsed_by_libpq) {
  pg_env e = aurora();
  pg_env_set(&e, "DATABASE_URL",
             "postgresql://app:p%40ss@db1.example:5433,db2.example:5434/events?sslmode=verify-full"
             "&sslrootcert=/etc/ssl/rds.pem&application_name=api");
  hl_pg_conf c;
  HL_ASSERT_EQ_STR(load(&e, &c), "");
  HL_ASSERT_EQ_INT(c.source, HL_PG_FROM_URL);
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "host"), "db1.example,db2.example");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "port"), "5433,5434");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "password"), "p@ss");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "sslmode"), "verify-full");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "sslrootcert"), "/etc/ssl/rds.pem");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "application_name"), "api"); /* the URL's, not the default */
  hl_pg_conf_dispose(&c);

  pg_env k = {0};
  pg_env_set(&k, "DATABASE_URL", "host=127.0.0.1 port=5432 dbname=x user=y");
  HL_ASSERT_EQ_STR(load(&k, &c), "");
  HL_ASSERT_EQ_STR(hl_pg_conf_get(&c, "dbname"), "x");
  hl_pg_conf_dispose(&c);
}

HL_TEST(bad_database_urls_name_the_variable_and_never_show_the_password) {
  pg_env e = {0};
  pg_env_set(&e, "DATABASE_URL", "postgresql://app:pw@db:port/x");
  expect_error(&e, "DATABASE_URL: ");
  pg_env_set(&e, "DATABASE_URL", "postgresql://app:pw@db:70000/x");
  expect_error(&e, "DATABASE_URL: port \"70000\" is not a number from 1 to 65535");
  pg_env_set(&e, "DATABASE_URL", "postgresql://db/x?nosuchoption=1");
  expect_error(&e, "DATABASE_URL: not a libpq connection URI");
  pg_env_set(&e, "DATABASE_URL", "just words");
  expect_error(&e, "DATABASE_URL: not a libpq connection URI");
  /* A bad escape in the password: libpq would quote it. */
  pg_env_set(&e, "DATABASE_URL", "postgresql://app:Secr%zzet@db/x");
  hl_pg_conf c;
  const char *err = load(&e, &c);
  HL_ASSERT_MSG(strncmp(err, "DATABASE_URL: ", 14) == 0, "%s", err);
  HL_ASSERT_MSG(!strstr(err, "Secr") && !strstr(err, "%zz") && !strstr(err, "zet"), "%s", err);
  hl_pg_conf_dispose(&c);
}

HL_TEST(connection_failures_are_blamed_on_the_right_variable) {
  pg_env e = aurora();
  pg_env_set(&e, "DATABASE_PORT", "6543");
  hl_pg_conf c;
  HL_ASSERT_EQ_STR(load(&e, &c), "");
  static const struct { const char *msg, *var; } cases[] = {
    {"connection to server at \"10.0.0.1\", port 6543 failed: FATAL:  28P01: password authentication failed "
     "for user \"app\"\nLOCATION:  auth_failed, auth.c:335\n", "DATABASE_PASSWORD/DATABASE_USER"},
    {"connection to server at \"10.0.0.1\", port 6543 failed: FATAL:  3D000: database \"x\" does not exist\n",
     "DATABASE_NAME"},
    {"connection to server at \"10.0.0.1\", port 6543 failed: FATAL:  28000: no pg_hba.conf entry for host\n",
     "DATABASE_USER"},
    {"connection to server at \"10.0.0.1\", port 6543 failed: Connection refused\n\tIs the server running on that "
     "host and accepting TCP/IP connections?\n", "AURORA_ENDPOINT/DATABASE_PORT"},
    {"timeout expired after 10000 ms while connecting", "AURORA_ENDPOINT/DATABASE_PORT"},
    {"could not translate host name \"nope\" to address: unknown node or service\n", "AURORA_ENDPOINT"},
    {"connection to server at \"db\" (10.0.0.1), port 6543 failed: SSL error: certificate verify failed\n",
     "PGSSLROOTCERT"},
    {"connection to server at \"db\" (10.0.0.1), port 6543 failed: server does not support SSL, but SSL was "
     "required\n", "PGSSLMODE"},
    /* The server's refusal says more than a refused address tried before. */
    {"connection to server at \"db\" (::1), port 6543 failed: Connection refused\nconnection to server at \"db\" "
     "(10.0.0.1), port 6543 failed: FATAL:  3D000: database \"x\" does not exist\n", "DATABASE_NAME"},
    /* Not the settings' fault: the server cannot take it now. */
    {"connection to server at \"db\", port 6543 failed: FATAL:  57P03: the database system is starting up\n", NULL},
    {"connection to server at \"db\", port 6543 failed: FATAL:  53300: sorry, too many clients already\n", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const char *got = hl_pg_conf_blame(&c, cases[i].msg);
    HL_ASSERT_MSG(cases[i].var ? got && strcmp(got, cases[i].var) == 0 : got == NULL, "case %zu: want %s, got %s",
                  i, cases[i].var ? cases[i].var : "(none)", got ? got : "(none)");
  }
  hl_buf out = HL_BUF_INIT;
  hl_pg_conf_explain(&c, cases[0].msg, &out);
  HL_ASSERT_EQ_STR(out.data, "DATABASE_PASSWORD/DATABASE_USER: connection to server at \"10.0.0.1\", port 6543 "
                             "failed: FATAL: password authentication failed for user \"app\"");
  hl_buf_reset(&out);
  hl_pg_conf_explain(NULL, cases[3].msg, &out); /* no blame: a connection that was up */
  HL_ASSERT_EQ_STR(out.data, "connection to server at \"10.0.0.1\", port 6543 failed: Connection refused Is the "
                             "server running on that host and accepting TCP/IP connections?");
  hl_buf_dispose(&out);
  char code[6];
  HL_ASSERT(hl_pg_sqlstate_of(cases[1].msg, code));
  HL_ASSERT_EQ_STR(code, "3D000");
  HL_ASSERT(!hl_pg_sqlstate_of(cases[3].msg, code));
  hl_pg_conf_dispose(&c);

  pg_env u = {0};
  pg_env_set(&u, "DATABASE_URL", "postgresql://db/x");
  HL_ASSERT_EQ_STR(load(&u, &c), "");
  HL_ASSERT_EQ_STR(hl_pg_conf_blame(&c, cases[0].msg), "DATABASE_URL");
  HL_ASSERT_EQ_STR(hl_pg_conf_blame(&c, cases[3].msg), "DATABASE_URL");
  HL_ASSERT(hl_pg_conf_blame(&c, cases[9].msg) == NULL);
  hl_pg_conf_dispose(&c);
}

HL_TEST(backoff_doubles_up_to_the_cap_with_jitter_of_at_most_half) {
  const uint32_t base = 100, cap = 10000;
  uint32_t prev_hi = 0;
  for (unsigned n = 0; n < 40; n++) {
    uint32_t step = base;
    for (unsigned i = 0; i < n && step < cap; i++) step *= 2;
    if (step > cap) step = cap;
    uint32_t lo = hl_pg_backoff_ms(base, cap, n, step / 2); /* the most jitter */
    uint32_t hi = hl_pg_backoff_ms(base, cap, n, 0);        /* none */
    HL_ASSERT_EQ_INT(hi, step);
    HL_ASSERT_EQ_INT(lo, step - step / 2);
    for (uint32_t r = 0; r < 5000; r += 7) {
      uint32_t d = hl_pg_backoff_ms(base, cap, n, r * 2654435761u);
      HL_ASSERT(d >= lo && d <= hi);
    }
    HL_ASSERT(hi >= prev_hi && hi <= cap);
    prev_hi = hi;
  }
  HL_ASSERT_EQ_INT(hl_pg_backoff_ms(base, cap, 0, 0), 100);
  HL_ASSERT_EQ_INT(hl_pg_backoff_ms(base, cap, 3, 0), 800);
  HL_ASSERT_EQ_INT(hl_pg_backoff_ms(base, cap, 1000, 0), cap);
}
