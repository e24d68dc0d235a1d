/* SNS Publish, SQS SendMessage, EventBridge PutEvents and KMS data keys
 * (src/aws/hl_aws_{sns,sqs,events,kms}) against the service peer
 * (tools/aws_service_peer), which checks every request's SigV4 with
 * botocore and records what it accepted: exact bytes, attributes, FIFO ids,
 * each fault class's verdict, retries, and requests it must refuse. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "aws_testutil.h"

#include "aws/hl_aws_events.h"
#include "aws/hl_aws_kms.h"
#include "aws/hl_aws_sns.h"
#include "aws/hl_aws_sqs.h"
#include "common/hl_common.h"
#include "json/hl_json.h"
#include "loop/hl_curl_uv.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define AKID "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define TOPIC "arn:aws:sns:eu-west-1:123456789012:payments"
#define FIFO_TOPIC "arn:aws:sns:eu-west-1:123456789012:payments.fifo"
#define QUEUE "https://sqs.eu-west-1.amazonaws.com/123456789012/payments"
#define FIFO_QUEUE "https://sqs.eu-west-1.amazonaws.com/123456789012/payments.fifo"

/* An accepted payment: a decimal that must stay 100.10, \u escapes that
 * must stay escapes, raw UTF-8, and the characters form encoding touches. */
static const char BODY[] = "{\"transaction_id\":\"tx-1\",\"amount\":100.10,\"currency\":\"EUR\","
                           "\"note\":\"caf\\u00e9 \\ud83d\\ude00\",\"raw\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\","
                           "\"chars\":\"a+b&c=d %20 ~*'()\\\"\\\\/\",\"ws\":\"\\t\\n\"}\n";

static uv_loop_t loop;
static hl_curl_uv curl;
static hl_aws_creds_provider creds;
static svc_peer peer;

static void on_flag(void *data) { *(int *)data = 1; }

static void up_with(const char *secret, const char *token, const char *peer_token) {
  uv_loop_init(&loop);
  hl_curl_uv_init(&curl, &loop, 16);
  hl_aws_creds_env env = {.access_key_id = AKID, .secret_access_key = secret, .session_token = token};
  char err[256] = "";
  HL_ASSERT_MSG(hl_aws_creds_init(&creds, &loop, &curl, &env, err, sizeof err) == 0, "%s", err);
  svc_peer_start(&peer, AKID, SECRET, peer_token);
}

static void up(void) { up_with(SECRET, NULL, NULL); }

static void down(void) {
  aws_loop_close(&loop, &curl, &creds);
  svc_peer_stop(&peer);
}

static void client(hl_aws_client *c, const hl_aws_service *svc, const char *endpoint, unsigned attempts) {
  hl_aws_client_opts o = {.svc = *svc, .endpoint = endpoint, .region = "eu-west-1", .max_attempts = attempts,
                          .base_ms = 5, .throttle_base_ms = 20, .cap_ms = 200, .timeout_ms = 5000,
                          .sensitive = svc == &hl_kms_service};
  char err[256] = "";
  HL_ASSERT_MSG(hl_aws_client_init(c, &loop, &curl, &creds, &o, "the endpoint", err, sizeof err) == 0, "%s", err);
}

static void client_close(hl_aws_client *c) {
  int closed = 0;
  hl_aws_client_close(c, on_flag, &closed);
  while (!closed && uv_run(&loop, UV_RUN_ONCE)) {}
}

/* What a callback saw. */
typedef struct {
  int calls;
  hl_aws_status st;
  char id[128], seq[128];
  hl_events_entry_result entries[HL_EVENTS_ENTRIES_MAX];
  size_t n, failed;
  uint8_t key[64], ciphertext[512];
  size_t key_len, ciphertext_len;
  char key_id[256];
} seen;

static void wait_for(seen *s) {
  while (s->calls == 0 && uv_run(&loop, UV_RUN_ONCE)) {}
  HL_ASSERT_EQ_INT(s->calls, 1);
}

/* SNS and SQS answer alike. */
static void on_message(void *data, const hl_aws_status *st, const hl_aws_message_result *res) {
  seen *s = data;
  s->calls++;
  s->st = *st;
  if (res) {
    snprintf(s->id, sizeof s->id, "%s", res->message_id);
    snprintf(s->seq, sizeof s->seq, "%s", res->sequence_number);
  }
}

static void on_put(void *data, const hl_aws_status *st, const hl_events_entry_result *r, size_t n, size_t failed) {
  seen *s = data;
  s->calls++;
  s->st = *st;
  s->n = n;
  s->failed = failed;
  for (size_t i = 0; r && i < n; i++) s->entries[i] = r[i];
}

static const hl_aws_attr ATTRS[] = {
    {"webhook-id", "evt-0001"}, {"event_type", "PaymentProcessed"}, {"webhook-timestamp", "1795000000"}};

static void publish(hl_aws_client *c, const char *topic, const char *body, size_t len, const char *group,
                    const char *dedup, seen *s) {
  hl_aws_message m = {body, len, ATTRS, 3, group, dedup};
  char err[256] = "";
  HL_ASSERT_MSG(hl_sns_publish(c, topic, &m, on_message, s, err, sizeof err) == 0, "%s", err);
  wait_for(s);
}

static void send_msg(hl_aws_client *c, const char *queue, const char *group, const char *dedup, seen *s) {
  hl_aws_message m = {BODY, sizeof BODY - 1, ATTRS, 3, group, dedup};
  char err[256] = "";
  HL_ASSERT_MSG(hl_sqs_send(c, queue, &m, on_message, s, err, sizeof err) == 0, "%s", err);
  wait_for(s);
}

static void put_events(hl_aws_client *c, size_t n, seen *s) {
  hl_events_entry e[3];
  for (size_t i = 0; i < n; i++)
    e[i] = (hl_events_entry){.bus = "payments", .source = "hookloop.test", .detail_type = "PaymentProcessed",
                             .detail = BODY, .detail_len = sizeof BODY - 1};
  char err[256] = "";
  HL_ASSERT_MSG(hl_events_put(c, e, n, on_put, s, err, sizeof err) == 0, "%s", err);
  wait_for(s);
}

static void check_attrs(const hl_json *rec) {
  const hl_json *a = hl_json_get(rec, "MessageAttributes");
  HL_ASSERT_EQ_INT(a ? a->len : 0, 3);
  for (size_t i = 0; i < 3; i++) HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(a, ATTRS[i].name)), ATTRS[i].value);
}

/* The recorded string member equals the body byte for byte. */
static void check_exact(const hl_json *rec, const char *member) {
  const hl_json *m = hl_json_get(rec, member);
  HL_ASSERT_MSG(m && m->type == HL_JSON_STRING, "no %s recorded", member);
  HL_ASSERT_EQ_INT(m->len, sizeof BODY - 1);
  HL_ASSERT(memcmp(m->u.str, BODY, sizeof BODY - 1) == 0);
}

HL_TEST(sns_publish_sends_the_exact_bytes_and_attributes) {
  up();
  hl_aws_client c;
  client(&c, &hl_sns_service, peer.endpoint, 3);
  seen s = {0};
  publish(&c, TOPIC, BODY, sizeof BODY - 1, "PaymentProcessed", "evt-0001", &s);
  HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s %s", s.st.code, s.st.message);
  HL_ASSERT_EQ_INT(s.st.http_status, 200);
  HL_ASSERT_EQ_INT(s.st.attempts, 1);
  HL_ASSERT(s.st.latency_us > 0);
  hl_json_doc d;
  hl_json_doc_init(&d);
  const hl_json *reqs = svc_peer_requests(&peer, &d);
  HL_ASSERT_EQ_INT(reqs->len, 1);
  const hl_json *rec = &reqs->u.items[0];
  check_exact(rec, "Message");
  check_attrs(rec);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(rec, "TopicArn")), TOPIC);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(rec, "region")), "eu-west-1");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(rec, "MessageId")), s.id); /* read from the XML answer */
  /* A standard topic gets no FIFO ids, even when the caller has them. */
  HL_ASSERT_EQ_INT(hl_json_get(rec, "MessageGroupId")->type, HL_JSON_NULL);
  HL_ASSERT_EQ_INT(hl_json_get(rec, "MessageDeduplicationId")->type, HL_JSON_NULL);
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "auth_ok"), 1);
  hl_json_doc_dispose(&d);
  client_close(&c);
  down();
}

HL_TEST(sns_fifo_topics_get_group_and_deduplication_ids) {
  up();
  hl_aws_client c;
  client(&c, &hl_sns_service, peer.endpoint, 3);
  seen s = {0};
  publish(&c, FIFO_TOPIC, BODY, sizeof BODY - 1, "PaymentProcessed", "evt-0001", &s);
  HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s %s", s.st.code, s.st.message);
  HL_ASSERT(s.seq[0]); /* FIFO answers carry a sequence number */
  memset(&s, 0, sizeof s);
  publish(&c, FIFO_TOPIC, "{}", 2, "PaymentProcessed", NULL, &s); /* content-based deduplication */
  HL_ASSERT(s.st.verdict == HL_AWS_VERDICT_OK);
  hl_json_doc d;
  hl_json_doc_init(&d);
  const hl_json *reqs = svc_peer_requests(&peer, &d);
  HL_ASSERT_EQ_INT(reqs->len, 2);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "MessageGroupId")), "PaymentProcessed");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "MessageDeduplicationId")), "evt-0001");
  HL_ASSERT_EQ_INT(hl_json_get(&reqs->u.items[1], "MessageDeduplicationId")->type, HL_JSON_NULL);
  hl_json_doc_dispose(&d);
  /* A FIFO topic without a group id is refused before any request. */
  hl_aws_message m = {.body = "{}", .len = 2};
  char err[256] = "";
  HL_ASSERT_EQ_INT(hl_sns_publish(&c, FIFO_TOPIC, &m, on_message, &s, err, sizeof err), HL_EINVAL);
  HL_ASSERT_MSG(strstr(err, "MessageGroupId"), "%s", err);
  m.group_id = "bad id with spaces";
  HL_ASSERT_EQ_INT(hl_sns_publish(&c, FIFO_TOPIC, &m, on_message, &s, err, sizeof err), HL_EINVAL);
  m.group_id = "g";
  m.dedup_id = "";
  HL_ASSERT_EQ_INT(hl_sns_publish(&c, FIFO_TOPIC, &m, on_message, &s, err, sizeof err), HL_EINVAL);
  client_close(&c);
  down();
}

HL_TEST(sqs_send_message_exact_bytes_fifo_and_md5) {
  up();
  hl_aws_client c;
  client(&c, &hl_sqs_service, peer.endpoint, 3);
  seen s = {0};
  send_msg(&c, QUEUE, "g", "d", &s);
  HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s %s", s.st.code, s.st.message);
  HL_ASSERT(s.id[0]);
  memset(&s, 0, sizeof s);
  send_msg(&c, FIFO_QUEUE, "PaymentProcessed", "evt-0001", &s);
  HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s %s", s.st.code, s.st.message);
  HL_ASSERT(s.seq[0]);
  hl_json_doc d;
  hl_json_doc_init(&d);
  const hl_json *reqs = svc_peer_requests(&peer, &d);
  HL_ASSERT_EQ_INT(reqs->len, 2);
  for (uint32_t i = 0; i < 2; i++) {
    check_exact(&reqs->u.items[i], "MessageBody");
    check_attrs(&reqs->u.items[i]);
  }
  HL_ASSERT_EQ_INT(hl_json_get(&reqs->u.items[0], "MessageGroupId")->type, HL_JSON_NULL);
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[1], "MessageGroupId")), "PaymentProcessed");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[1], "MessageDeduplicationId")), "evt-0001");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[1], "MessageId")), s.id);
  hl_json_doc_dispose(&d);
  /* An answer whose MD5OfMessageBody is not the body's: retry, as the SDKs do. */
  svc_peer_fault(&peer, "{\"action\":\"SendMessage\",\"kind\":\"corrupt_md5\"}");
  memset(&s, 0, sizeof s);
  hl_aws_client one;
  client(&one, &hl_sqs_service, peer.endpoint, 1);
  send_msg(&one, QUEUE, NULL, NULL, &s);
  HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_RETRY);
  HL_ASSERT_EQ_STR(s.st.code, "MD5Mismatch");
  client_close(&one);
  client_close(&c);
  down();
}

HL_TEST(eventbridge_put_events_exact_detail_and_partial_failure) {
  up();
  hl_aws_client c;
  client(&c, &hl_events_service, peer.endpoint, 3);
  seen s = {0};
  put_events(&c, 1, &s);
  HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s %s", s.st.code, s.st.message);
  HL_ASSERT_EQ_INT(s.n, 1);
  HL_ASSERT_EQ_INT(s.failed, 0);
  HL_ASSERT(s.entries[0].event_id[0]);
  hl_json_doc d;
  hl_json_doc_init(&d);
  const hl_json *reqs = svc_peer_requests(&peer, &d);
  HL_ASSERT_EQ_INT(reqs->len, 1);
  check_exact(&reqs->u.items[0], "Detail");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "EventBusName")), "payments");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "DetailType")), "PaymentProcessed");
  HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(&reqs->u.items[0], "EventId")), s.entries[0].event_id);
  hl_json_doc_dispose(&d);
  /* HTTP 200 with the middle entry throttled: that entry alone is RETRY. */
  svc_peer_fault(&peer, "{\"action\":\"PutEvents\",\"kind\":\"partial\",\"fail\":[1]}");
  memset(&s, 0, sizeof s);
  put_events(&c, 3, &s);
  HL_ASSERT_EQ_INT(s.st.http_status, 200);
  HL_ASSERT_EQ_INT(s.st.attempts, 1); /* a partial failure is the caller's to retry, entry by entry */
  HL_ASSERT_EQ_INT(s.failed, 1);
  HL_ASSERT_EQ_INT(s.entries[0].verdict, HL_AWS_VERDICT_OK);
  HL_ASSERT_EQ_INT(s.entries[1].verdict, HL_AWS_VERDICT_RETRY);
  HL_ASSERT_EQ_STR(s.entries[1].code, "ThrottlingException");
  HL_ASSERT_EQ_STR(s.entries[1].message, "injected partial failure");
  HL_ASSERT_EQ_INT(s.entries[2].verdict, HL_AWS_VERDICT_OK);
  HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_RETRY);
  HL_ASSERT_EQ_STR(s.st.code, "ThrottlingException");
  /* A permanent entry error makes the call FAIL, the others stay OK. */
  svc_peer_fault(&peer, "{\"action\":\"PutEvents\",\"kind\":\"partial\",\"fail\":[0],"
                        "\"code\":\"AccessDeniedException\"}");
  memset(&s, 0, sizeof s);
  put_events(&c, 2, &s);
  HL_ASSERT_EQ_INT(s.entries[0].verdict, HL_AWS_VERDICT_FAIL);
  HL_ASSERT_EQ_INT(s.entries[1].verdict, HL_AWS_VERDICT_OK);
  HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_FAIL);
  HL_ASSERT_EQ_STR(s.st.code, "AccessDeniedException");
  client_close(&c);
  down();
}

static void on_data_key(void *data, const hl_aws_status *st, const hl_kms_data_key *key) {
  seen *s = data;
  s->calls++;
  s->st = *st;
  if (!key) return;
  memcpy(s->key, key->plaintext, HL_KMS_DATA_KEY_LEN);
  s->key_len = HL_KMS_DATA_KEY_LEN;
  HL_ASSERT(key->ciphertext_len <= sizeof s->ciphertext);
  memcpy(s->ciphertext, key->ciphertext, key->ciphertext_len);
  s->ciphertext_len = key->ciphertext_len;
  snprintf(s->key_id, sizeof s->key_id, "%s", key->key_id ? key->key_id : "");
}

static void on_decrypt(void *data, const hl_aws_status *st, const uint8_t *pt, size_t len, const char *key_id) {
  seen *s = data;
  s->calls++;
  s->st = *st;
  if (!pt) return;
  HL_ASSERT(len <= sizeof s->key);
  memcpy(s->key, pt, len);
  s->key_len = len;
  snprintf(s->key_id, sizeof s->key_id, "%s", key_id ? key_id : "");
}

HL_TEST(kms_decrypt_returns_what_generate_data_key_produced) {
  up();
  hl_aws_client c;
  client(&c, &hl_kms_service, peer.endpoint, 3);
  const hl_aws_attr ctx[] = {{"subscription_id", "sub_1"}};
  char err[256] = "";
  seen k = {0};
  HL_ASSERT_MSG(hl_kms_generate_data_key(&c, "alias/hookloop", ctx, 1, on_data_key, &k, err, sizeof err) == 0, "%s",
                err);
  wait_for(&k);
  HL_ASSERT_MSG(k.st.verdict == HL_AWS_VERDICT_OK, "%s %s", k.st.code, k.st.message);
  HL_ASSERT_EQ_INT(k.key_len, 32);
  HL_ASSERT(strstr(k.key_id, "alias/hookloop"));
  seen d = {0};
  HL_ASSERT(hl_kms_decrypt(&c, k.ciphertext, k.ciphertext_len, NULL, ctx, 1, on_decrypt, &d, err, sizeof err) == 0);
  wait_for(&d);
  HL_ASSERT_MSG(d.st.verdict == HL_AWS_VERDICT_OK, "%s %s", d.st.code, d.st.message);
  HL_ASSERT_EQ_INT(d.key_len, 32);
  HL_ASSERT(memcmp(d.key, k.key, 32) == 0);
  /* Another encryption context does not decrypt it: permanent. */
  const hl_aws_attr other[] = {{"subscription_id", "sub_2"}};
  memset(&d, 0, sizeof d);
  HL_ASSERT(hl_kms_decrypt(&c, k.ciphertext, k.ciphertext_len, NULL, other, 1, on_decrypt, &d, err, sizeof err) == 0);
  wait_for(&d);
  HL_ASSERT_EQ_INT(d.st.verdict, HL_AWS_VERDICT_FAIL);
  HL_ASSERT_EQ_STR(d.st.code, "InvalidCiphertextException");
  HL_ASSERT_EQ_INT(d.key_len, 0);
  client_close(&c);
  /* A client that would not wipe plaintext keys is refused. */
  hl_aws_client plain;
  hl_aws_client_opts o = {.svc = hl_kms_service, .endpoint = peer.endpoint, .region = "eu-west-1"};
  HL_ASSERT(hl_aws_client_init(&plain, &loop, &curl, &creds, &o, "KMS", err, sizeof err) == 0);
  HL_ASSERT_EQ_INT(hl_kms_generate_data_key(&plain, "alias/hookloop", NULL, 0, on_data_key, &k, err, sizeof err),
                   HL_EINVAL);
  HL_ASSERT(strstr(err, "sensitive"));
  client_close(&plain);
  down();
}

/* One call of the service's operation through a client of `attempts`. */
typedef enum { SVC_SNS, SVC_SQS, SVC_EVENTS, SVC_KMS } svc_kind;
static const char *const ACTION[] = {"Publish", "SendMessage", "PutEvents", "GenerateDataKey"};
static const hl_aws_service *const SERVICE[] = {&hl_sns_service, &hl_sqs_service, &hl_events_service,
                                                &hl_kms_service};

static void one_call(svc_kind k, const char *endpoint, unsigned attempts, seen *s, hl_aws_client *out_counters) {
  hl_aws_client c;
  client(&c, SERVICE[k], endpoint, attempts);
  char err[256] = "";
  switch (k) {
    case SVC_SNS: publish(&c, TOPIC, BODY, sizeof BODY - 1, NULL, NULL, s); break;
    case SVC_SQS: send_msg(&c, QUEUE, NULL, NULL, s); break;
    case SVC_EVENTS: put_events(&c, 1, s); break;
    case SVC_KMS:
      HL_ASSERT(hl_kms_generate_data_key(&c, "alias/hookloop", NULL, 0, on_data_key, s, err, sizeof err) == 0);
      wait_for(s);
      break;
  }
  if (out_counters) *out_counters = c;
  client_close(&c);
}

HL_TEST_T(each_fault_class_gets_its_verdict_for_each_service, 120) {
  static const struct {
    const char *kind;
    hl_aws_verdict verdict;
    hl_aws_outcome outcome;
    const char *code[4]; /* as each service spells it: SNS, SQS, EventBridge, KMS */
  } faults[] = {
      {"throttle", HL_AWS_VERDICT_RETRY, HL_AWS_THROTTLED,
       {"Throttling", "RequestThrottled", "ThrottlingException", "ThrottlingException"}},
      {"error500", HL_AWS_VERDICT_RETRY, HL_AWS_TRANSIENT,
       {"InternalError", "InternalError", "InternalException", "KMSInternalException"}},
      {"access_denied", HL_AWS_VERDICT_FAIL, HL_AWS_AUTH,
       {"AuthorizationError", "AccessDenied", "AccessDeniedException", "AccessDeniedException"}},
      {"not_found", HL_AWS_VERDICT_FAIL, HL_AWS_NOT_FOUND,
       {"NotFound", "AWS.SimpleQueueService.NonExistentQueue", "ResourceNotFoundException", "NotFoundException"}},
      {"disabled", HL_AWS_VERDICT_FAIL, HL_AWS_OTHER,
       {"KMSDisabled", "KMS.DisabledException", "OperationDisabledException", "DisabledException"}},
  };
  up();
  for (int k = SVC_SNS; k <= SVC_KMS; k++)
    for (size_t f = 0; f < HL_ARRAY_SIZE(faults); f++) {
      char j[160];
      snprintf(j, sizeof j, "{\"action\":\"%s\",\"kind\":\"%s\"}", ACTION[k], faults[f].kind);
      svc_peer_fault(&peer, j);
      seen s = {0};
      one_call((svc_kind)k, peer.endpoint, 1, &s, NULL);
      HL_ASSERT_MSG(s.st.verdict == faults[f].verdict && s.st.outcome == faults[f].outcome &&
                        strcmp(s.st.code, faults[f].code[k]) == 0,
                    "%s %s: verdict %s outcome %s code '%s' (%s)", ACTION[k], faults[f].kind,
                    hl_aws_verdict_name(s.st.verdict), hl_aws_outcome_name(s.st.outcome), s.st.code, s.st.message);
      HL_ASSERT(s.st.http_status >= 400);
      HL_ASSERT(strstr(s.st.message, "injected"));
    }
  /* Nothing faulted was recorded as delivered. */
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(svc_peer_requests(&peer, &d)->len, 0);
  hl_json_doc_dispose(&d);
  down();
}

HL_TEST(throttling_is_retried_until_it_succeeds) {
  up();
  for (int k = SVC_SNS; k <= SVC_KMS; k++) {
    char j[160];
    snprintf(j, sizeof j, "{\"action\":\"%s\",\"kind\":\"throttle\",\"count\":2}", ACTION[k]);
    svc_peer_fault(&peer, j);
    seen s = {0};
    hl_aws_client counters;
    one_call((svc_kind)k, peer.endpoint, 5, &s, &counters);
    HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s: %s", ACTION[k], s.st.code);
    HL_ASSERT_EQ_INT(s.st.attempts, 3);
    HL_ASSERT_EQ_INT(counters.retries, 2);
  }
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "faults"), 8);
  hl_json_doc d;
  hl_json_doc_init(&d);
  HL_ASSERT_EQ_INT(svc_peer_requests(&peer, &d)->len, 4); /* once each */
  hl_json_doc_dispose(&d);
  /* An expired token is refreshed and retried as well. */
  svc_peer_fault(&peer, "{\"action\":\"Publish\",\"kind\":\"expired_token\"}");
  seen s = {0};
  one_call(SVC_SNS, peer.endpoint, 3, &s, NULL);
  HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_OK);
  HL_ASSERT_EQ_INT(s.st.attempts, 2);
  down();
}

HL_TEST(access_denied_is_permanent_at_once) {
  up();
  svc_peer_fault(&peer, "{\"action\":\"*\",\"kind\":\"access_denied\",\"count\":50}");
  for (int k = SVC_SNS; k <= SVC_KMS; k++) {
    seen s = {0};
    one_call((svc_kind)k, peer.endpoint, 5, &s, NULL);
    HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_FAIL);
    HL_ASSERT_EQ_INT(s.st.attempts, 1);
  }
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "faults"), 4);
  down();
}

HL_TEST(a_wrong_signature_is_refused_by_the_independent_verifier) {
  /* The client signs with another secret than the peer knows. */
  up_with("not-the-secret", NULL, NULL);
  for (int k = SVC_SNS; k <= SVC_KMS; k++) {
    seen s = {0};
    one_call((svc_kind)k, peer.endpoint, 3, &s, NULL);
    HL_ASSERT_EQ_INT(s.st.http_status, 403);
    HL_ASSERT_EQ_STR(s.st.code, "SignatureDoesNotMatch");
    HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_FAIL);
  }
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "auth_rejected"), 4);
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "auth_ok"), 0);
  down();
}

HL_TEST(a_session_token_is_signed_and_checked) {
  up_with(SECRET, "FwoGZXIvYXdzEJr//////////wEaDO+session+token=", "FwoGZXIvYXdzEJr//////////wEaDO+session+token=");
  for (int k = SVC_SNS; k <= SVC_KMS; k++) {
    seen s = {0};
    one_call((svc_kind)k, peer.endpoint, 1, &s, NULL);
    HL_ASSERT_MSG(s.st.verdict == HL_AWS_VERDICT_OK, "%s: %s %s", ACTION[k], s.st.code, s.st.message);
  }
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "auth_ok"), 4);
  down();
}

HL_TEST(timeouts_and_connection_errors_are_retry) {
  up();
  svc_peer_fault(&peer, "{\"action\":\"Publish\",\"kind\":\"delay\",\"delay_ms\":1500}");
  hl_aws_client c;
  hl_aws_client_opts o = {.svc = hl_sns_service, .endpoint = peer.endpoint, .region = "eu-west-1",
                          .max_attempts = 1, .timeout_ms = 300};
  char err[256] = "";
  HL_ASSERT(hl_aws_client_init(&c, &loop, &curl, &creds, &o, "SNS", err, sizeof err) == 0);
  seen s = {0};
  publish(&c, TOPIC, "{}", 2, NULL, NULL, &s);
  HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_RETRY);
  HL_ASSERT_EQ_STR(s.st.code, "RequestTimeout");
  HL_ASSERT_EQ_INT(s.st.http_status, 0);
  client_close(&c);
  /* A port where nothing listens. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  HL_ASSERT(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
  socklen_t al = sizeof a;
  getsockname(fd, (struct sockaddr *)&a, &al);
  char dead[64];
  snprintf(dead, sizeof dead, "http://127.0.0.1:%d", ntohs(a.sin_port));
  for (int k = SVC_SNS; k <= SVC_KMS; k++) {
    memset(&s, 0, sizeof s);
    one_call((svc_kind)k, dead, 2, &s, NULL);
    HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_RETRY);
    HL_ASSERT_EQ_STR(s.st.code, "ConnectionError");
    HL_ASSERT_EQ_INT(s.st.attempts, 2);
  }
  close(fd);
  down();
}

HL_TEST(what_the_services_cannot_carry_is_refused_before_sending) {
  up();
  hl_aws_client c;
  client(&c, &hl_sns_service, peer.endpoint, 1);
  seen s = {0};
  char err[256];
  static const struct {
    const char *body;
    size_t len;
    const char *why;
  } bad[] = {
      {"{\"a\":\"\xef\xbf\xbf\"}", 9, "byte 6"}, /* U+FFFF, valid JSON, not an XML character */
      {"{\"a\":\"\xc3\x28\"}", 9, "byte 6"},     /* not UTF-8 */
      {"{\"a\":\"\xed\xa0\x80\"}", 10, "byte 6"}, /* a UTF-16 surrogate in UTF-8 */
      {"\x01{}", 3, "byte 0"},                   /* a control character */
      {"", 0, "empty"},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    hl_aws_message m = {.body = bad[i].body, .len = bad[i].len};
    err[0] = '\0';
    HL_ASSERT_EQ_INT(hl_sns_publish(&c, TOPIC, &m, on_message, &s, err, sizeof err), HL_EINVAL);
    HL_ASSERT_MSG(strstr(err, bad[i].why), "case %zu: %s", i, err);
  }
  /* 256 KiB with the attributes is the limit. */
  size_t big = HL_AWS_MESSAGE_MAX - 10;
  char *m = malloc(big);
  memset(m, 'a', big);
  hl_aws_message r = {.body = m, .len = big, .attrs = ATTRS, .n_attrs = 1};
  HL_ASSERT_EQ_INT(hl_sns_publish(&c, TOPIC, &r, on_message, &s, err, sizeof err), HL_EINVAL);
  HL_ASSERT_MSG(strstr(err, "262144"), "%s", err);
  r.n_attrs = 0;
  HL_ASSERT_EQ_INT(hl_sns_publish(&c, TOPIC, &r, on_message, &s, err, sizeof err), 0); /* alone it fits */
  wait_for(&s);
  HL_ASSERT_EQ_INT(s.st.verdict, HL_AWS_VERDICT_OK);
  free(m);
  /* Bad targets. */
  r = (hl_aws_message){.body = "{}", .len = 2};
  HL_ASSERT_EQ_INT(hl_sns_publish(&c, "arn:aws:sqs:eu-west-1:123456789012:q", &r, on_message, &s, err, sizeof err),
                   HL_EINVAL);
  HL_ASSERT(strstr(err, "SNS topic ARN"));
  HL_ASSERT_EQ_INT(hl_sqs_send(&c, "https://sqs.eu-west-1.amazonaws.com/payments", &r, on_message, &s, err, sizeof err),
                   HL_EINVAL);
  hl_events_entry e = {.source = "s", .detail_type = "t", .detail = "[1]", .detail_len = 3};
  HL_ASSERT_EQ_INT(hl_events_put(&c, &e, 1, on_put, &s, err, sizeof err), HL_EINVAL);
  HL_ASSERT(strstr(err, "JSON object"));
  client_close(&c);
  HL_ASSERT_EQ_INT(svc_peer_stat(&peer, "auth_ok"), 1); /* only the message that fit was sent */
  down();
}
