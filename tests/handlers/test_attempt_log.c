/* The attempt log's record of an answer (handlers/hl_attempt_log): the
 * headers as a JSON object (lower-case names, repeats joined, credentials
 * left out, values cut, text made valid UTF-8) and the body's first bytes. */
#include "hl_test.h"
#include "handlers/hl_attempt_log.h"
#include "common/hl_common.h"
#include "json/hl_json.h"

#include <string.h>

static hl_send_result answer(const char *headers, const char *body) {
  hl_send_result r = {.status_code = 200, .latency_s = 0.0125};
  r.resp_headers_len = strlen(headers);
  memcpy(r.resp_headers, headers, r.resp_headers_len);
  r.resp_body_len = strlen(body);
  memcpy(r.resp_body, body, r.resp_body_len);
  return r;
}

static hl_attempt_rec build(const hl_send_result *res) {
  hl_delivery_rec d = {.event_id = "evt-1", .subscription_id = "sub_a"};
  hl_attempt_rec r;
  hl_attempt_log_build(&r, &d, 2, 1700000000000, res);
  return r;
}

static const char *member(const hl_json *o, const char *name) {
  const hl_json *v = hl_json_get(o, name);
  return v && v->type == HL_JSON_STRING ? v->u.str : NULL;
}

HL_TEST(headers_are_lower_cased_joined_and_redacted) {
  hl_send_result res = answer("Content-Type: text/plain\r\nX-Trace:  a \r\nSet-Cookie: s=SECRET\r\n"
                              "x-trace: b\r\nAuthorization: SECRET\r\nX-Empty:\r\nnot a header\r\n",
                              "ok");
  hl_attempt_rec r = build(&res);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT(hl_json_parse(&doc, r.headers_json, strlen(r.headers_json), NULL) == 0);
  HL_ASSERT_EQ_INT(doc.root->type, HL_JSON_OBJECT);
  HL_ASSERT_EQ_INT(doc.root->len, 3);
  HL_ASSERT_EQ_STR(member(doc.root, "content-type"), "text/plain");
  HL_ASSERT_EQ_STR(member(doc.root, "x-trace"), "a, b");
  HL_ASSERT_EQ_STR(member(doc.root, "x-empty"), "");
  HL_ASSERT(strstr(r.headers_json, "SECRET") == NULL);
  HL_ASSERT_EQ_STR(r.body, "ok");
  HL_ASSERT_EQ_INT(r.attempt, 2);
  HL_ASSERT_EQ_INT(r.latency_ms, 13);
  HL_ASSERT(!r.truncated);
  hl_json_doc_dispose(&doc);
  hl_attempt_rec_free(&r);
}

/* Every credential-like word, anywhere in a name and in any case, redacts
 * it; names that only share letters with them do not. */
HL_TEST(credential_like_names_are_redacted_wherever_the_word_sits) {
  static const char *const redacted[] = {"Cookie", "Set-Cookie", "Authorization", "Proxy-Authenticate",
                                         "X-Auth", "X-Token", "X-Access-TOKEN", "Client-Secret", "Password",
                                         "X-Passwd", "Webhook-Signature", "X-SIGNATURE", "X-Session-Id",
                                         "X-Api-Key", "apikey", "X-Amz-Security-Token", "aUTh"};
  static const char *const kept[] = {"Content-Type", "Content-Length", "Date", "X-Trace", "Server",
                                     "Cache-Control", "Retry-After", "x-amz-request-id", "X-Tok", "Sign",
                                     "X-Sess", "Api-Ke", "a", "Accept-Ranges", "Strict-Transport-Security"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(redacted); i++)
    HL_ASSERT_MSG(hl_attempt_header_redacted(redacted[i], strlen(redacted[i])), "%s kept", redacted[i]);
  for (size_t i = 0; i < HL_ARRAY_SIZE(kept); i++)
    HL_ASSERT_MSG(!hl_attempt_header_redacted(kept[i], strlen(kept[i])), "%s redacted", kept[i]);
  /* The length given is the name's: a word running past it does not count. */
  HL_ASSERT(!hl_attempt_header_redacted("X-Auth", 4));
  HL_ASSERT(hl_attempt_header_redacted("X-Auth", 6));
}

/* The exact text: names lower-cased in the order first seen, repeats
 * joined, the status line and a credential left out, JSON escapes for a
 * quote, a backslash, a tab and a control byte, UTF-8 kept as it is. */
HL_TEST(headers_json_is_exact) {
  hl_send_result res = answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "X-Quote: say \"hi\" \\ there\r\nX-Tab: a\tb\r\nSet-Cookie: s=1\r\n"
                              "X-Multi: one\r\nx-multi:  two \r\nX-Utf: caf\xc3\xa9\r\nX-Ctl: a\x01" "b\r\n"
                              "Server:\r\n\r\n",
                              "");
  hl_attempt_rec r = build(&res);
  HL_ASSERT_EQ_STR(r.headers_json, "{\"content-type\":\"application/json\",\"x-quote\":\"say \\\"hi\\\" \\\\ there\","
                                   "\"x-tab\":\"a\\tb\",\"x-multi\":\"one, two\",\"x-utf\":\"caf\xc3\xa9\","
                                   "\"x-ctl\":\"a\\u0001b\",\"server\":\"\"}");
  hl_attempt_rec_free(&r);
}

HL_TEST(long_values_are_cut_and_bad_bytes_replaced) {
  char headers[1200], v[HL_ATTEMPT_HEADER_VALUE_MAX];
  memset(v, 'v', sizeof v - 1);
  v[sizeof v - 1] = '\0';
  /* A value one byte short of the cap, then a second of the same name:
   * the ", " and what follows stop at the cap; a value and a body with
   * bytes that are not UTF-8. */
  snprintf(headers, sizeof headers, "X-Long: %s\r\nX-Long: more\r\nX-Bin: a\xff" "b\r\n", v);
  hl_send_result res = answer(headers, "caf\xc3\xa9 \xfe!");
  hl_attempt_rec r = build(&res);
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT(hl_json_parse(&doc, r.headers_json, strlen(r.headers_json), NULL) == 0);
  HL_ASSERT_EQ_INT(strlen(member(doc.root, "x-long")), HL_ATTEMPT_HEADER_VALUE_MAX);
  HL_ASSERT_EQ_STR(member(doc.root, "x-bin"), "a\xef\xbf\xbd" "b");
  HL_ASSERT_EQ_STR(r.body, "caf\xc3\xa9 \xef\xbf\xbd!");
  hl_json_doc_dispose(&doc);
  hl_attempt_rec_free(&r);
}

HL_TEST(a_long_body_is_cut_and_marked) {
  hl_send_result res = answer("", "");
  memset(res.resp_body, 'x', sizeof res.resp_body);
  res.resp_body_len = sizeof res.resp_body;
  res.resp_body_more = true;
  hl_attempt_rec r = build(&res);
  HL_ASSERT_EQ_STR(r.headers_json, "{}");
  HL_ASSERT_EQ_INT(strlen(r.body), HL_ATTEMPT_BODY_MAX);
  HL_ASSERT(r.truncated);
  hl_attempt_rec_free(&r);
}

/* One scratch filled again and again, as the dispatcher does: answers
 * alike reuse the previous conversion, and every answer still reads as
 * its own, including one that differs in a single byte (a new second in
 * Date), headers that are empty, and an earlier answer coming back. */
HL_TEST(a_reused_scratch_gives_each_answer_its_own_headers) {
  static const char *const seq[] = {
      "Date: Tue, 01 Dec 2026 23:59:58 GMT\r\nContent-Length: 2\r\n",
      "Date: Tue, 01 Dec 2026 23:59:58 GMT\r\nContent-Length: 2\r\n",
      "Date: Tue, 01 Dec 2026 23:59:59 GMT\r\nContent-Length: 2\r\n",
      "",
      "Date: Tue, 01 Dec 2026 23:59:58 GMT\r\nContent-Length: 2\r\n",
      "X-Other: 1\r\n",
      "",
  };
  hl_attempt_log_scratch sc = {0};
  hl_delivery_rec d = {.event_id = "evt-1", .subscription_id = "sub_a"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(seq); i++) {
    hl_send_result res = answer(seq[i], "ok");
    hl_attempt_rec alone = build(&res);
    hl_attempt_rec r;
    hl_attempt_log_fill(&r, &sc, &d, 2, 1700000000000, &res);
    HL_ASSERT_MSG(strcmp(r.headers_json, alone.headers_json) == 0, "answer %zu: %s, alone %s", i, r.headers_json,
                  alone.headers_json);
    hl_attempt_rec_free(&alone);
  }
  hl_attempt_log_scratch_dispose(&sc);
}
