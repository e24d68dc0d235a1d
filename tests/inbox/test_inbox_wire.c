/* The inbox protocol's messages without a network: exact payload bytes out
 * of a page, what a page may hold and what it may not, the token answer,
 * URLs, and the settings and secret by the seed's names. */
#include "hl_test.h"

#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "loop/hl_inbox_conf.h"
#include "loop/hl_inbox_wire.h"

#include <stdlib.h>
#include <string.h>

static hl_inbox_page *parse(const char *text, int *rc, char *err, size_t errlen) {
  size_t len = strlen(text);
  char *body = hl_malloc(len + 1);
  memcpy(body, text, len + 1);
  return hl_inbox_page_parse(body, len, rc, err, errlen);
}

static void assert_payload(const hl_inbox_event *e, const char *want) {
  HL_ASSERT_MSG(e->payload_len == strlen(want) && memcmp(e->payload, want, e->payload_len) == 0,
                "payload of %s: got [%.*s], want [%s]", e->id, (int)e->payload_len, e->payload, want);
}

HL_TEST(page_payloads_are_the_exact_text) {
  /* Payloads that a re-serialisation would change: a trailing zero,
   * escapes, whitespace, member order, big numbers; strings that hold
   * braces, brackets, quotes and backslashes; payload before and after the
   * id; "events" not the first member; other members around. */
  const char *text =
      "{ \"meta\": {\"events\": \"not these\", \"x\": [1, {\"payload\": 2}]},\n"
      "  \"events\" : [\n"
      "    {\"id\":\"e1\",\"payload\":{\"amount\":100.10,\"name\":\"caf\\u00e9\"}},\n"
      "    {\"payload\" :  { \"s\" : \"}]\\\"\\\\{[\" , \"n\" : 1.0e+2 } , \"id\":\"e2\", \"extra\": [\"}\"]},\n"
      "    {\"id\":\"e3\",\"payload\":\"\\ud83d\\ude00 \\\"q\\\" \\/\"},\n"
      "    {\"id\":\"e4\",\"payload\":12345678901234567890.000},\n"
      "    {\"id\":\"e5\",\"payload\":null,\"attempts\":3},\n"
      "    {\"id\":\"e6\",\"payload\":[ [ ], { } ,true ]  }\n"
      "  ],\n"
      "  \"next\": \"c6\" }";
  int rc;
  char err[256];
  hl_inbox_page *p = parse(text, &rc, err, sizeof err);
  HL_ASSERT_MSG(p && rc == 0, "%s", err);
  HL_ASSERT_EQ_INT(p->n, 6);
  HL_ASSERT_EQ_INT(p->skipped, 0);
  HL_ASSERT_EQ_STR(p->next, "c6");
  assert_payload(&p->events[0], "{\"amount\":100.10,\"name\":\"caf\\u00e9\"}");
  assert_payload(&p->events[1], "{ \"s\" : \"}]\\\"\\\\{[\" , \"n\" : 1.0e+2 }");
  assert_payload(&p->events[2], "\"\\ud83d\\ude00 \\\"q\\\" \\/\"");
  assert_payload(&p->events[3], "12345678901234567890.000");
  assert_payload(&p->events[4], "null");
  assert_payload(&p->events[5], "[ [ ], { } ,true ]");
  for (int i = 0; i < 6; i++) {
    char want[8];
    snprintf(want, sizeof want, "e%d", i + 1);
    HL_ASSERT_EQ_STR(p->events[i].id, want);
  }
  hl_inbox_page_free(p);
}

HL_TEST(page_duplicate_member_names) {
  /* In an event (the payload, deep inside it, or the id): that event is
   * left pending, the others go on. */
  const char *text = "{\"events\":["
                     "{\"id\":\"a\",\"payload\":{\"v\":1},\"payload\":{\"v\":2}},"
                     "{\"id\":\"b\",\"payload\":{\"deep\":{\"x\":1,\"x\":2}}},"
                     "{\"id\":\"c\",\"id\":\"d\",\"payload\":1},"
                     "{\"id\":\"e\",\"payload\":{\"x\":1,\"y\":{\"x\":2}}}],\"next\":null}";
  int rc;
  char err[256];
  hl_inbox_page *p = parse(text, &rc, err, sizeof err);
  HL_ASSERT_MSG(p, "%s", err);
  HL_ASSERT_EQ_INT(p->skipped, 3);
  HL_ASSERT_EQ_INT(p->n, 1);
  HL_ASSERT_EQ_STR(p->events[0].id, "e"); /* the same name at two depths is no repeat */
  assert_payload(&p->events[0], "{\"x\":1,\"y\":{\"x\":2}}");
  hl_inbox_page_free(p);
  /* In the envelope: the page cannot be read one way only. */
  static const char *twice[] = {"{\"events\":[],\"events\":[{\"id\":\"x\",\"payload\":1}]}",
                                "{\"events\":[],\"next\":\"c1\",\"next\":null}"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(twice); i++) {
    HL_ASSERT_MSG(parse(twice[i], &rc, err, sizeof err) == NULL, "accepted %s", twice[i]);
    HL_ASSERT_EQ_INT(rc, HL_EPARSE);
    HL_ASSERT(strstr(err, "twice") != NULL);
  }
}

HL_TEST(page_events_that_cannot_be_handled_are_skipped) {
  char long_id[600];
  memset(long_id, 'a', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b,
                "{\"events\":[\"a string\",{\"payload\":1},{\"id\":\"no-payload\"},{\"id\":\"\",\"payload\":1},"
                "{\"id\":\"%s\",\"payload\":1},{\"id\":\"tab\\there\",\"payload\":1},{\"id\":true,\"payload\":1},"
                "{\"id\":1.5,\"payload\":1},{\"id\":42,\"payload\":{\"ok\":true}},{\"id\":\"ok\",\"payload\":[]}],"
                "\"next\":17}",
                long_id);
  int rc;
  char err[256];
  hl_inbox_page *p = parse(b.data, &rc, err, sizeof err);
  HL_ASSERT_MSG(p, "%s", err);
  HL_ASSERT_EQ_INT(p->skipped, 8);
  HL_ASSERT_EQ_INT(p->n, 2);
  HL_ASSERT_EQ_STR(p->events[0].id, "42"); /* an integer id, as its text */
  assert_payload(&p->events[0], "{\"ok\":true}");
  HL_ASSERT_EQ_STR(p->events[1].id, "ok");
  HL_ASSERT_EQ_STR(p->next, "17"); /* a number cursor, as its text */
  hl_inbox_page_free(p);
  hl_buf_dispose(&b);
}

HL_TEST(page_next_and_refusals) {
  int rc;
  char err[256];
  static const struct {
    const char *text;
    const char *next;
  } ok[] = {
      {"{\"events\":[]}", NULL},
      {"{\"events\":[],\"next\":null}", NULL},
      {"{\"events\":[],\"next\":\"\"}", NULL},
      {"{\"events\":[],\"next\":\"a b/c\"}", "a b/c"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(ok); i++) {
    hl_inbox_page *p = parse(ok[i].text, &rc, err, sizeof err);
    HL_ASSERT_MSG(p, "%s: %s", ok[i].text, err);
    HL_ASSERT(p->n == 0);
    if (ok[i].next) HL_ASSERT_EQ_STR(p->next, ok[i].next);
    else HL_ASSERT(p->next == NULL);
    hl_inbox_page_free(p);
  }
  static const char *bad[] = {"", "not json", "[]", "{\"events\":{}}", "{\"next\":null}",
                              "{\"events\":[],\"next\":{}}", "{\"events\":[],\"next\":true}",
                              "{\"events\":[{\"id\":\"a\",\"payload\":1}]} trailing"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    rc = 0;
    HL_ASSERT_MSG(parse(bad[i], &rc, err, sizeof err) == NULL, "accepted %s", bad[i]);
    HL_ASSERT_EQ_INT(rc, HL_EPARSE);
    HL_ASSERT(err[0]);
  }
  parse("{\"events\":[],\"next\":{}}", &rc, err, sizeof err);
  HL_ASSERT(strstr(err, "/next") != NULL);
  parse("{\"events\":{}}", &rc, err, sizeof err);
  HL_ASSERT(strstr(err, "/events") != NULL);
}

static bool keep_odd(void *data, const hl_inbox_event *e) {
  (void)data;
  return (e->id[1] - '0') % 2 == 1;
}

HL_TEST(page_filter_keeps_order) {
  int rc;
  char err[128];
  hl_inbox_page *p = parse("{\"events\":[{\"id\":\"e1\",\"payload\":1},{\"id\":\"e2\",\"payload\":2},"
                           "{\"id\":\"e3\",\"payload\":3}]}",
                           &rc, err, sizeof err);
  HL_ASSERT(p);
  HL_ASSERT_EQ_INT(hl_inbox_page_filter(p, SIZE_MAX, SIZE_MAX, keep_odd, NULL), 0);
  HL_ASSERT_EQ_INT(p->n, 2);
  HL_ASSERT_EQ_STR(p->events[0].id, "e1");
  HL_ASSERT_EQ_STR(p->events[1].id, "e3");
  assert_payload(&p->events[1], "3");
  hl_inbox_page_free(p);
}

HL_TEST(token_answer) {
  char *tok;
  int64_t exp;
  char err[256];
  const char *ok = "{\"access_token\":\"eyJ.abc-_~+/=\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
  HL_ASSERT_EQ_INT(hl_inbox_token_parse(ok, strlen(ok), &tok, &exp, err, sizeof err), 0);
  HL_ASSERT_EQ_STR(tok, "eyJ.abc-_~+/=");
  HL_ASSERT_EQ_INT(exp, 3600);
  hl_free(tok);
  static const struct {
    const char *text;
    int64_t exp;
  } lifetimes[] = {{"{\"access_token\":\"t\"}", -1},
                   {"{\"access_token\":\"t\",\"expires_in\":null}", -1},
                   {"{\"access_token\":\"t\",\"expires_in\":\"900\"}", 900},
                   {"{\"access_token\":\"t\",\"expires_in\":59.9}", 59},
                   {"{\"access_token\":\"t\",\"expires_in\":0}", 0}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(lifetimes); i++) {
    const char *t = lifetimes[i].text;
    HL_ASSERT_MSG(hl_inbox_token_parse(t, strlen(t), &tok, &exp, err, sizeof err) == 0, "%s: %s", t, err);
    HL_ASSERT_EQ_INT(exp, lifetimes[i].exp);
    hl_free(tok);
  }
  static const char *bad[] = {"", "[]", "{}", "{\"access_token\":\"\"}", "{\"access_token\":42}",
                              "{\"access_token\":\"two words\"}", "{\"access_token\":\"line\\r\\nX-Evil: 1\"}",
                              "{\"access_token\":\"caf\\u00e9\"}", "{\"access_token\":\"t\",\"expires_in\":-1}",
                              "{\"access_token\":\"t\",\"expires_in\":\"1h\"}",
                              "{\"access_token\":\"t\",\"expires_in\":{}}"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    tok = (char *)"untouched";
    HL_ASSERT_MSG(hl_inbox_token_parse(bad[i], strlen(bad[i]), &tok, &exp, err, sizeof err) == HL_EPARSE,
                  "accepted %s", bad[i]);
    HL_ASSERT(tok == NULL);
    /* The error never repeats the token. */
    HL_ASSERT(!strstr(err, "two words") && !strstr(err, "X-Evil"));
  }
}

HL_TEST(urls) {
  hl_buf b = HL_BUF_INIT;
  hl_inbox_url(&b, "https://api.example.com/v1/", "/auth/token");
  HL_ASSERT_EQ_STR(b.data, "https://api.example.com/v1/auth/token");
  hl_buf_reset(&b);
  hl_inbox_url(&b, "http://127.0.0.1:9", "inbox");
  HL_ASSERT_EQ_STR(b.data, "http://127.0.0.1:9/inbox");
  hl_buf_reset(&b);
  hl_inbox_fetch_url(&b, "https://h/v1", "/inbox", 100, NULL);
  HL_ASSERT_EQ_STR(b.data, "https://h/v1/inbox?status=pending&limit=100");
  hl_buf_reset(&b);
  hl_inbox_fetch_url(&b, "https://h", "/inbox", 7, "a b/c+d=&e");
  HL_ASSERT_EQ_STR(b.data, "https://h/inbox?status=pending&limit=7&cursor=a%20b%2Fc%2Bd%3D%26e");
  hl_buf_reset(&b);
  hl_inbox_fetch_url(&b, "https://h", "/inbox?queue=zapier", 1, NULL);
  HL_ASSERT_EQ_STR(b.data, "https://h/inbox?queue=zapier&status=pending&limit=1");
  hl_buf_reset(&b);
  HL_ASSERT_EQ_INT(hl_inbox_ack_url(&b, "https://h/", "/inbox/{id}/ack", "evt/1 ?#\xc3\xa9", 10), 0);
  HL_ASSERT_EQ_STR(b.data, "https://h/inbox/evt%2F1%20%3F%23%C3%A9/ack");
  hl_buf_reset(&b);
  HL_ASSERT_EQ_INT(hl_inbox_ack_url(&b, "https://h", "/events/{id}", "..", 2), 0);
  HL_ASSERT_EQ_STR(b.data, "https://h/events/..");
  hl_buf_reset(&b);
  HL_ASSERT_EQ_INT(hl_inbox_ack_url(&b, "https://h", "/inbox/ack", "x", 1), HL_EINVAL);
  hl_buf_dispose(&b);
}

/* A table standing in for the environment. */
static const char *table(void *data, const char *name) {
  for (const char *const *kv = data; *kv; kv += 2)
    if (strcmp(kv[0], name) == 0) return *kv[1] ? kv[1] : NULL;
  return NULL;
}

HL_TEST(settings_by_the_seed_names) {
  hl_inbox_settings s;
  char err[256];
  const char *min[] = {"API_BASE_URL", "https://triggers.example.com/api", "SECRET_ARN",
                       "arn:aws:secretsmanager:eu-west-1:1:secret:inbox", NULL};
  HL_ASSERT_MSG(hl_inbox_settings_load(&s, table, min, err, sizeof err) == 0, "%s", err);
  HL_ASSERT_EQ_STR(s.api_base_url, "https://triggers.example.com/api");
  HL_ASSERT_EQ_INT(s.max_events, 100);
  HL_ASSERT_EQ_INT(s.auth, HL_INBOX_AUTH_TOKEN);
  HL_ASSERT_EQ_STR(s.token_path, "/auth/token");
  HL_ASSERT_EQ_STR(s.inbox_path, "/inbox");
  HL_ASSERT_EQ_STR(s.ack_path, "/inbox/{id}/ack");
  HL_ASSERT_EQ_INT(s.poll_interval_s, 300);
  HL_ASSERT_EQ_INT(s.secret_ttl_s, 300);
  HL_ASSERT_EQ_STR(s.retry_schedule, "1s,2s,4s");
  hl_inbox_settings_dispose(&s);
  const char *all[] = {"API_BASE_URL", "http://127.0.0.1:9", "SECRET_ARN", "inbox", "MAX_EVENTS_PER_RUN", "250",
                       "INBOX_AUTH", "jwt", "INBOX_TOKEN_PATH", "/oauth/token", "INBOX_PATH", "/v2/pending",
                       "INBOX_ACK_PATH", "/v2/events/{id}/done", "INBOX_POLL_INTERVAL_S", "60",
                       "INBOX_SECRET_TTL_S", "0000000000900", "INBOX_RETRY_SCHEDULE", "500ms,5s", NULL};
  HL_ASSERT_MSG(hl_inbox_settings_load(&s, table, all, err, sizeof err) == 0, "%s", err);
  HL_ASSERT_EQ_INT(s.max_events, 250);
  HL_ASSERT_EQ_INT(s.poll_interval_s, 60);
  HL_ASSERT_EQ_INT(s.secret_ttl_s, 900);
  HL_ASSERT_EQ_STR(s.retry_schedule, "500ms,5s");
  HL_ASSERT_EQ_INT(s.auth, HL_INBOX_AUTH_JWT);
  HL_ASSERT_EQ_STR(s.ack_path, "/v2/events/{id}/done");
  hl_inbox_settings_dispose(&s);
  static const struct {
    const char *name, *value;
  } bad[] = {{"API_BASE_URL", "ftp://x"}, {"API_BASE_URL", "https://"}, {"SECRET_ARN", ""},
             {"MAX_EVENTS_PER_RUN", "0"}, {"MAX_EVENTS_PER_RUN", "10001"}, {"MAX_EVENTS_PER_RUN", "5x"},
             {"INBOX_AUTH", "basic"}, {"INBOX_PATH", "inbox"}, {"INBOX_ACK_PATH", "/inbox/ack"},
             {"INBOX_TOKEN_PATH", "/a b"}, {"INBOX_POLL_INTERVAL_S", "0"}, {"INBOX_POLL_INTERVAL_S", "86401"},
             {"INBOX_POLL_INTERVAL_S", "5m"}, {"INBOX_SECRET_TTL_S", "-1"}, {"MAX_EVENTS_PER_RUN", " 5"},
             {"MAX_EVENTS_PER_RUN", "+5"}, {"INBOX_POLL_INTERVAL_S", " 60"}, {"INBOX_SECRET_TTL_S", "+900"},
             {"MAX_EVENTS_PER_RUN", "99999999999999999999999"}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    const char *t[] = {"API_BASE_URL", "https://h", "SECRET_ARN", "arn", bad[i].name, bad[i].value, NULL};
    /* A bad API_BASE_URL or SECRET_ARN takes the good one's place. */
    if (strcmp(bad[i].name, "API_BASE_URL") == 0) t[1] = bad[i].value;
    if (strcmp(bad[i].name, "SECRET_ARN") == 0) t[3] = bad[i].value;
    HL_ASSERT_MSG(hl_inbox_settings_load(&s, table, t, err, sizeof err) == HL_EINVAL, "accepted %s=%s", bad[i].name,
                  bad[i].value);
    HL_ASSERT_MSG(strncmp(err, bad[i].name, strlen(bad[i].name)) == 0, "%s", err);
    hl_inbox_settings_dispose(&s);
  }
}

/* The paths are appended to API_BASE_URL, and the inbox's query to
 * INBOX_PATH: a query or a fragment in the base would swallow them (the
 * inbox path landing in the query string, or cut off with the fragment, so
 * every request went to the base itself), and a blank is in no URL. Each
 * is refused at start, naming the variable, instead of failing every pass. */
HL_TEST(a_base_url_with_a_query_fragment_or_blank_is_refused_naming_the_variable) {
  static const struct {
    const char *name, *value;
  } bad[] = {{"API_BASE_URL", "https://h/api?key=1"}, {"API_BASE_URL", "https://h/api#v1"},
             {"API_BASE_URL", "https://h/api "}, {"API_BASE_URL", "https://h /api"},
             {"API_BASE_URL", "https://h/a\tb"}, {"API_BASE_URL", "https://h?"},
             {"INBOX_PATH", "/inbox#pending"}, {"INBOX_ACK_PATH", "/inbox/{id}/ack#x"},
             {"INBOX_TOKEN_PATH", "/auth#token"}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    const char *t[] = {"API_BASE_URL", "https://h", "SECRET_ARN", "arn", bad[i].name, bad[i].value, NULL};
    if (strcmp(bad[i].name, "API_BASE_URL") == 0) t[1] = bad[i].value;
    hl_inbox_settings s;
    char err[256];
    HL_ASSERT_MSG(hl_inbox_settings_load(&s, table, t, err, sizeof err) == HL_EINVAL, "accepted %s=[%s]",
                  bad[i].name, bad[i].value);
    HL_ASSERT_MSG(strncmp(err, bad[i].name, strlen(bad[i].name)) == 0, "%s", err);
    hl_inbox_settings_dispose(&s);
  }
  /* A port, a prefix with a trailing '/', user:password: still taken. */
  static const char *good[] = {"http://127.0.0.1:8080", "https://h/api/v1/", "https://u:p@h:443/x"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(good); i++) {
    const char *t[] = {"API_BASE_URL", good[i], "SECRET_ARN", "arn", NULL};
    hl_inbox_settings s;
    char err[256];
    HL_ASSERT_MSG(hl_inbox_settings_load(&s, table, t, err, sizeof err) == 0, "%s: %s", good[i], err);
    hl_inbox_settings_dispose(&s);
  }
}

/* A refused setting is named, its value never shown: API_BASE_URL may
 * carry a user and password, and the message goes to logs. */
HL_TEST(a_refused_setting_is_named_without_its_value) {
  static const struct {
    const char *name, *value;
  } bad[] = {{"API_BASE_URL", "ftp://user:s3cr3t@host/"}, {"API_BASE_URL", "https:/user:s3cr3t@host"},
             {"MAX_EVENTS_PER_RUN", "s3cr3t"}, {"INBOX_AUTH", "s3cr3t"}, {"INBOX_TOKEN_PATH", "s3cr3t"},
             {"INBOX_PATH", "inbox-s3cr3t"}, {"INBOX_ACK_PATH", "s3cr3t/{id}"},
             {"INBOX_POLL_INTERVAL_S", "s3cr3t"}, {"INBOX_SECRET_TTL_S", "s3cr3t"}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    const char *t[] = {"API_BASE_URL", "https://h", "SECRET_ARN", "arn", bad[i].name, bad[i].value, NULL};
    if (strcmp(bad[i].name, "API_BASE_URL") == 0) t[1] = bad[i].value;
    hl_inbox_settings s;
    char err[256];
    HL_ASSERT_MSG(hl_inbox_settings_load(&s, table, t, err, sizeof err) == HL_EINVAL, "accepted %s=%s", bad[i].name,
                  bad[i].value);
    HL_ASSERT_MSG(strncmp(err, bad[i].name, strlen(bad[i].name)) == 0, "%s", err);
    HL_ASSERT_MSG(!strstr(err, "s3cr3t"), "%s", err);
    hl_inbox_settings_dispose(&s);
  }
}

HL_TEST(secret_by_the_seed_names) {
  hl_inbox_secret s;
  char err[256];
  const char *full = "{\"zapier_api_key\":\"k-123\",\"zapier_webhook_url\":\"https://hooks.zapier.com/h/1\","
                     "\"jwt_secret\":\"0123456789abcdef0123456789abcdef\"}";
  HL_ASSERT_EQ_INT(hl_inbox_secret_parse(&s, full, strlen(full), HL_INBOX_AUTH_TOKEN, err, sizeof err), 0);
  HL_ASSERT_EQ_STR(s.api_key, "k-123");
  HL_ASSERT_EQ_STR(s.webhook_url, "https://hooks.zapier.com/h/1");
  HL_ASSERT_EQ_STR(s.jwt_secret, "0123456789abcdef0123456789abcdef");
  HL_ASSERT(s.webhook_secret == NULL);
  hl_inbox_secret_dispose(&s);
  const char *signed_ = "{\"zapier_api_key\":\"k\",\"zapier_webhook_url\":\"https://h\","
                        "\"webhook_secret\":\"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"}";
  HL_ASSERT_EQ_INT(hl_inbox_secret_parse(&s, signed_, strlen(signed_), HL_INBOX_AUTH_TOKEN, err, sizeof err), 0);
  HL_ASSERT_EQ_STR(s.webhook_secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  hl_inbox_secret_dispose(&s);
  HL_ASSERT(s.api_key == NULL && s.jwt_secret == NULL);
  HL_ASSERT_EQ_INT(hl_inbox_secret_parse(&s, full, strlen(full), HL_INBOX_AUTH_JWT, err, sizeof err), 0);
  hl_inbox_secret_dispose(&s);
  static const struct {
    const char *text;
    hl_inbox_auth auth;
    const char *member;
  } bad[] = {
      {"not json", HL_INBOX_AUTH_TOKEN, "JSON"},
      {"{\"zapier_api_key\":\"k-123\"}", HL_INBOX_AUTH_TOKEN, "/zapier_webhook_url"},
      {"{\"zapier_api_key\":\"k-123\",\"zapier_webhook_url\":\"hooks.zapier.com\"}", HL_INBOX_AUTH_TOKEN,
       "/zapier_webhook_url"},
      {"{\"zapier_webhook_url\":\"https://h\",\"jwt_secret\":\"0123456789abcdef0123456789abcdef\"}",
       HL_INBOX_AUTH_TOKEN, "/zapier_api_key"},
      {"{\"zapier_webhook_url\":\"https://h\",\"zapier_api_key\":\"k-123\",\"jwt_secret\":\"short-secret\"}",
       HL_INBOX_AUTH_JWT, "/jwt_secret"},
      {"{\"zapier_webhook_url\":\"https://h\",\"zapier_api_key\":42}", HL_INBOX_AUTH_TOKEN, "/zapier_api_key"},
      {"{\"zapier_webhook_url\":\"https://h\",\"zapier_api_key\":\"k\",\"webhook_secret\":\"not-whsec\"}",
       HL_INBOX_AUTH_TOKEN, "/webhook_secret"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    HL_ASSERT_MSG(hl_inbox_secret_parse(&s, bad[i].text, strlen(bad[i].text), bad[i].auth, err, sizeof err) < 0,
                  "accepted %s", bad[i].text);
    HL_ASSERT_MSG(strstr(err, bad[i].member) != NULL, "%s: %s", bad[i].text, err);
    /* No value of the secret in the message. */
    HL_ASSERT(!strstr(err, "k-123") && !strstr(err, "short-secret"));
    hl_inbox_secret_dispose(&s);
  }
}
