/* The checks and tables under the AWS calls, without a network: ARN, SNS
 * topic, SQS queue URL and event bus syntax (src/aws/hl_aws_arn), what SNS
 * and SQS can carry (hl_aws_msg), the XML reader of the Query protocol
 * (hl_aws_query) and the error-code table (hl_aws_client). */
#include "hl_test.h"
#include "aws/hl_aws_arn.h"
#include "aws/hl_aws_client.h"
#include "aws/hl_aws_events.h"
#include "aws/hl_aws_json.h"
#include "aws/hl_aws_msg.h"
#include "aws/hl_aws_query.h"
#include "aws/hl_aws_sns.h"
#include "common/hl_common.h"
#include "model/hl_destination.h"

#include <stdlib.h>
#include <string.h>

HL_TEST(arns) {
  hl_aws_arn a;
  char why[256];
  HL_ASSERT_EQ_INT(hl_aws_arn_parse("arn:aws:sns:eu-west-1:123456789012:payments", &a, why, sizeof why), 0);
  HL_ASSERT_EQ_STR(a.partition, "aws");
  HL_ASSERT_EQ_STR(a.service, "sns");
  HL_ASSERT_EQ_STR(a.region, "eu-west-1");
  HL_ASSERT_EQ_STR(a.account, "123456789012");
  HL_ASSERT_EQ_STR(a.resource, "payments");
  /* Resources may hold colons and slashes; global resources have no region. */
  HL_ASSERT_EQ_INT(hl_aws_arn_parse("arn:aws:iam::123456789012:role/a:b", &a, why, sizeof why), 0);
  HL_ASSERT_EQ_STR(a.resource, "role/a:b");
  HL_ASSERT_EQ_INT(hl_aws_arn_parse("arn:aws-cn:kms:cn-north-1:123456789012:key/k", &a, why, sizeof why), 0);
  HL_ASSERT_EQ_INT(hl_aws_arn_parse("arn:aws-us-gov:sns:us-gov-west-1:123456789012:t", &a, why, sizeof why), 0);
  static const char *const bad[] = {
      "", "arn", "arn:aws:sns", "arn:aws:sns:eu-west-1:123456789012", "arn:aws:sns:eu-west-1:123456789012:",
      "arn:amazon:sns:eu-west-1:123456789012:t", "arn:aws::eu-west-1:123456789012:t",
      "arn:aws:sns:EU_WEST:123456789012:t", "arn:aws:sns:eu-west-1:12345:t", "arn:aws:sns:eu-west-1:12345678901x:t",
      "urn:aws:sns:eu-west-1:123456789012:t",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad); i++) {
    why[0] = '\0';
    HL_ASSERT_MSG(hl_aws_arn_parse(bad[i], &a, why, sizeof why) == HL_EINVAL, "accepted '%s'", bad[i]);
    HL_ASSERT(why[0]);
  }
}

HL_TEST(sns_topics_sqs_queues_and_buses) {
  char why[256];
  bool fifo = true;
  HL_ASSERT_EQ_INT(hl_sns_topic_arn_check("arn:aws:sns:eu-west-1:123456789012:pay_ments-1", &fifo, why, sizeof why), 0);
  HL_ASSERT(!fifo);
  HL_ASSERT_EQ_INT(hl_sns_topic_arn_check("arn:aws:sns:eu-west-1:123456789012:pay.fifo", &fifo, why, sizeof why), 0);
  HL_ASSERT(fifo);
  static const char *const bad_topics[] = {
      "arn:aws:sns:eu-west-1:123456789012:pay.ments", "arn:aws:sns:eu-west-1:123456789012:.fifo",
      "arn:aws:sns:eu-west-1:123456789012:a/b", "arn:aws:sqs:eu-west-1:123456789012:q",
      "arn:aws:sns::123456789012:t", "arn:aws:sns:eu-west-1::t", "payments",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_topics); i++)
    HL_ASSERT_MSG(hl_sns_topic_arn_check(bad_topics[i], NULL, why, sizeof why) == HL_EINVAL, "%s", bad_topics[i]);
  char name[300];
  memset(name, 'a', 257);
  name[257] = '\0';
  char arn[400];
  snprintf(arn, sizeof arn, "arn:aws:sns:eu-west-1:123456789012:%s", name);
  HL_ASSERT_EQ_INT(hl_sns_topic_arn_check(arn, NULL, why, sizeof why), HL_EINVAL); /* 257 characters */
  arn[strlen(arn) - 1] = '\0';
  HL_ASSERT_EQ_INT(hl_sns_topic_arn_check(arn, NULL, why, sizeof why), 0); /* 256 */

  HL_ASSERT_EQ_INT(hl_sqs_queue_url_check("https://sqs.eu-west-1.amazonaws.com/123456789012/payments", &fifo, why,
                                          sizeof why),
                   0);
  HL_ASSERT(!fifo);
  HL_ASSERT_EQ_INT(hl_sqs_queue_url_check("http://127.0.0.1:4566/000000000000/q.fifo", &fifo, why, sizeof why), 0);
  HL_ASSERT(fifo);
  static const char *const bad_queues[] = {
      "sqs.eu-west-1.amazonaws.com/123456789012/q", "https://sqs.eu-west-1.amazonaws.com/q",
      "https://sqs.eu-west-1.amazonaws.com/123456789012/", "https://sqs.eu-west-1.amazonaws.com/123456789012/a/b",
      "https://sqs.eu-west-1.amazonaws.com/123456789012/q?x=1", "https://sqs.eu-west-1.amazonaws.com/12345/q",
      "https:///123456789012/q", "https://h@st/123456789012/q", "ftp://h/123456789012/q",
      "https://sqs.eu-west-1.amazonaws.com/123456789012/q.ueue",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_queues); i++)
    HL_ASSERT_MSG(hl_sqs_queue_url_check(bad_queues[i], NULL, why, sizeof why) == HL_EINVAL, "%s", bad_queues[i]);

  HL_ASSERT_EQ_INT(hl_events_bus_check("default", why, sizeof why), 0);
  HL_ASSERT_EQ_INT(hl_events_bus_check("aws.partner/acme.com/123/payments", why, sizeof why), 0);
  HL_ASSERT_EQ_INT(hl_events_bus_check("arn:aws:events:eu-west-1:123456789012:event-bus/payments", why, sizeof why),
                   0);
  static const char *const bad_buses[] = {
      "", "pay ments", "arn:aws:events:eu-west-1:123456789012:rule/r", "arn:aws:sns:eu-west-1:123456789012:event-bus/b",
      "arn:aws:events:eu-west-1:123456789012:event-bus/", "bus#1",
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_buses); i++)
    HL_ASSERT_MSG(hl_events_bus_check(bad_buses[i], why, sizeof why) == HL_EINVAL, "%s", bad_buses[i]);
}

HL_TEST(message_text_attributes_and_fifo_ids) {
  char err[256];
  size_t bad = 99;
  /* Every XML character range, at its edges. */
  static const char ok[] = "\t\n\r \x7f\xc2\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf0\x90\x80\x80\xf4\x8f\xbf\xbf";
  HL_ASSERT_EQ_INT(hl_aws_text_check(ok, sizeof ok - 1, &bad), 0);
  static const struct {
    const char *s;
    size_t len, at;
  } nok[] = {
      {"a\x00", 2, 1},         {"a\x1f", 2, 1},         {"ab\xef\xbf\xbe", 5, 2}, {"\xef\xbf\xbf", 3, 0},
      {"\xc0\xaf", 2, 0},      {"\xe0\x80\xaf", 3, 0},  {"\xed\xb0\x80", 3, 0},   {"\xf4\x90\x80\x80", 4, 0},
      {"\xc3", 1, 0},          {"a\x80", 2, 1},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(nok); i++) {
    HL_ASSERT_MSG(hl_aws_text_check(nok[i].s, nok[i].len, &bad) == HL_EINVAL, "case %zu", i);
    HL_ASSERT_EQ_INT(bad, nok[i].at);
  }
  hl_aws_attr attrs[11];
  for (size_t i = 0; i < 11; i++) attrs[i] = (hl_aws_attr){"a", "v"};
  hl_aws_message m = {"{}", 2, attrs, 1, NULL, NULL};
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &m, false, err, sizeof err), 0);
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &m, true, err, sizeof err), HL_EINVAL); /* FIFO needs a group */
  m.group_id = "g";
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &m, true, err, sizeof err), 0);
  m.n_attrs = 2;
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &m, false, err, sizeof err), HL_EINVAL); /* twice */
  static const char *const names[] = {"11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21"};
  for (size_t i = 0; i < 11; i++) attrs[i].name = names[i];
  m.n_attrs = 10;
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &m, false, err, sizeof err), 0);
  m.n_attrs = 11;
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &m, false, err, sizeof err), HL_EINVAL);
  static const char *const bad_names[] = {"", ".a", "a.", "a..b", "a b", "AWS.x", "amazon.x", "a/b"};
  for (size_t i = 0; i < HL_ARRAY_SIZE(bad_names); i++) {
    hl_aws_attr a = {bad_names[i], "v"};
    hl_aws_message one = {"{}", 2, &a, 1, NULL, NULL};
    HL_ASSERT_MSG(hl_aws_message_check("Message", &one, false, err, sizeof err) == HL_EINVAL, "'%s'", bad_names[i]);
  }
  hl_aws_attr empty = {"webhook-id", ""};
  hl_aws_message e = {"{}", 2, &empty, 1, NULL, NULL};
  HL_ASSERT_EQ_INT(hl_aws_message_check("Message", &e, false, err, sizeof err), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_aws_fifo_id_check("MessageGroupId", "PaymentProcessed:eu/1!", err, sizeof err), 0);
  HL_ASSERT_EQ_INT(hl_aws_fifo_id_check("MessageGroupId", "", err, sizeof err), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_aws_fifo_id_check("MessageGroupId", "a b", err, sizeof err), HL_EINVAL);
  HL_ASSERT_EQ_INT(hl_aws_fifo_id_check("MessageGroupId", "caf\xc3\xa9", err, sizeof err), HL_EINVAL);
  char long_id[130];
  memset(long_id, 'x', 129);
  long_id[129] = '\0';
  HL_ASSERT_EQ_INT(hl_aws_fifo_id_check("MessageGroupId", long_id, err, sizeof err), HL_EINVAL);
  long_id[128] = '\0';
  HL_ASSERT_EQ_INT(hl_aws_fifo_id_check("MessageGroupId", long_id, err, sizeof err), 0);
}

HL_TEST(query_answers_are_read_as_xml) {
  static const char ok[] =
      "<?xml version=\"1.0\"?>\n<PublishResponse xmlns=\"https://sns.amazonaws.com/doc/2010-03-31/\">"
      "<PublishResult><MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId>"
      "<SequenceNumber>10000000000000003000</SequenceNumber></PublishResult>"
      "<ResponseMetadata><RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId></ResponseMetadata>"
      "</PublishResponse>";
  hl_aws_message_result r;
  hl_sns_publish_parse(ok, sizeof ok - 1, &r);
  HL_ASSERT_EQ_STR(r.message_id, "94f20ce6-13c5-43a0-9a9e-ca52d816e90b");
  HL_ASSERT_EQ_STR(r.sequence_number, "10000000000000003000");
  /* Errors: the code, and the message with its entities decoded. */
  static const char err[] = "<ErrorResponse xmlns=\"https://sns.amazonaws.com/doc/2010-03-31/\"><Error>"
                            "<Type>Sender</Type><Code>AuthorizationError</Code>"
                            "<Message>User: x is not authorized &amp; &lt;denied&gt; &#233;</Message></Error>"
                            "<RequestId>1</RequestId></ErrorResponse>";
  hl_aws_status st = {0};
  hl_aws_protocol_query.parse_error(err, sizeof err - 1, &st);
  HL_ASSERT_EQ_STR(st.code, "AuthorizationError");
  HL_ASSERT_EQ_STR(st.message, "User: x is not authorized & <denied> \xc3\xa9");
  hl_aws_classify_code(403, &st);
  HL_ASSERT_EQ_INT(st.verdict, HL_AWS_VERDICT_FAIL);
  /* The path is matched at its end, only on the element itself. */
  static const char *const code_path[] = {"Error", "Code"};
  hl_buf t = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_aws_xml_text("<a><Code>no</Code><Error><x><Code>deep</Code></x></Error></a>", 61, code_path, 2,
                                   &t),
                   HL_ENOTFOUND);
  /* Not XML, a DOCTYPE (no entity expansion), or too deep: nothing. */
  HL_ASSERT_EQ_INT(hl_aws_xml_text("<html>bad gateway", 17, code_path, 2, &t), HL_EPARSE);
  static const char dtd[] = "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><Error><Code>&a;</Code></Error>";
  HL_ASSERT_EQ_INT(hl_aws_xml_text(dtd, sizeof dtd - 1, code_path, 2, &t), HL_EPARSE);
  hl_buf deep = HL_BUF_INIT;
  for (int i = 0; i < 40; i++) hl_buf_puts(&deep, "<d>");
  hl_buf_puts(&deep, "<Error><Code>x</Code></Error>");
  for (int i = 0; i < 40; i++) hl_buf_puts(&deep, "</d>");
  HL_ASSERT_EQ_INT(hl_aws_xml_text(deep.data, deep.len, code_path, 2, &t), HL_EPARSE);
  HL_ASSERT_EQ_INT((int)t.len, 0);
  hl_buf_dispose(&deep);
  hl_buf_dispose(&t);
  /* A 502 page from a proxy: no code, and a 5xx retries. */
  memset(&st, 0, sizeof st);
  hl_aws_protocol_query.parse_error("<html>bad gateway</html>", 24, &st);
  HL_ASSERT_EQ_STR(st.code, "");
  hl_aws_classify_code(502, &st);
  HL_ASSERT_EQ_INT(st.verdict, HL_AWS_VERDICT_RETRY);
}

HL_TEST(the_code_table_of_docs_aws_md) {
  static const struct {
    const char *code;
    int status;
    hl_aws_verdict v;
  } table[] = {
      /* throttling, whatever the service's spelling */
      {"Throttling", 400, HL_AWS_VERDICT_RETRY},
      {"ThrottlingException", 400, HL_AWS_VERDICT_RETRY},
      {"ThrottledException", 429, HL_AWS_VERDICT_RETRY},
      {"Throttled", 429, HL_AWS_VERDICT_RETRY},
      {"RequestThrottled", 403, HL_AWS_VERDICT_RETRY},
      {"TooManyRequestsException", 429, HL_AWS_VERDICT_RETRY},
      {"ProvisionedThroughputExceeded", 400, HL_AWS_VERDICT_RETRY},
      {"ProvisionedThroughputExceededException", 400, HL_AWS_VERDICT_RETRY},
      {"KMSThrottling", 400, HL_AWS_VERDICT_RETRY},
      {"KmsThrottled", 400, HL_AWS_VERDICT_RETRY},
      {"KMS.ThrottlingException", 400, HL_AWS_VERDICT_RETRY},
      /* transient */
      {"InternalFailure", 0, HL_AWS_VERDICT_RETRY},
      {"InternalError", 500, HL_AWS_VERDICT_RETRY},
      {"ServiceUnavailable", 503, HL_AWS_VERDICT_RETRY},
      {"", 503, HL_AWS_VERDICT_RETRY},
      {"AnythingAt500", 500, HL_AWS_VERDICT_RETRY},
      {"DependencyTimeoutException", 503, HL_AWS_VERDICT_RETRY},
      {"ExpiredToken", 403, HL_AWS_VERDICT_RETRY},
      {"ExpiredTokenException", 400, HL_AWS_VERDICT_RETRY},
      /* permanent */
      {"AccessDenied", 403, HL_AWS_VERDICT_FAIL},
      {"AccessDeniedException", 400, HL_AWS_VERDICT_FAIL},
      {"AuthorizationError", 403, HL_AWS_VERDICT_FAIL},
      {"NotFound", 404, HL_AWS_VERDICT_FAIL},
      {"AWS.SimpleQueueService.NonExistentQueue", 400, HL_AWS_VERDICT_FAIL},
      {"QueueDoesNotExist", 400, HL_AWS_VERDICT_FAIL},
      {"ResourceNotFoundException", 400, HL_AWS_VERDICT_FAIL},
      {"NotFoundException", 400, HL_AWS_VERDICT_FAIL},
      {"InvalidParameter", 400, HL_AWS_VERDICT_FAIL},
      {"InvalidParameterValue", 400, HL_AWS_VERDICT_FAIL},
      {"KMSDisabled", 400, HL_AWS_VERDICT_FAIL},
      {"DisabledException", 400, HL_AWS_VERDICT_FAIL},
      {"KMSInvalidState", 400, HL_AWS_VERDICT_FAIL},
      {"SignatureDoesNotMatch", 403, HL_AWS_VERDICT_FAIL},
      {"InvalidClientTokenId", 403, HL_AWS_VERDICT_FAIL},
      {"MalformedDetail", 0, HL_AWS_VERDICT_FAIL},
      {"", 400, HL_AWS_VERDICT_FAIL},
      {"ConditionalCheckFailedException", 400, HL_AWS_VERDICT_FAIL},
  };
  for (size_t i = 0; i < HL_ARRAY_SIZE(table); i++) {
    hl_aws_status st = {0};
    snprintf(st.code, sizeof st.code, "%s", table[i].code);
    hl_aws_classify_code(table[i].status, &st);
    HL_ASSERT_MSG(st.verdict == table[i].v, "%s/%d: %s", table[i].code, table[i].status,
                  hl_aws_verdict_name(st.verdict));
    HL_ASSERT_EQ_INT(st.retryable || st.outcome == HL_AWS_EXPIRED_TOKEN, table[i].v == HL_AWS_VERDICT_RETRY);
  }
  /* Retried by the client's own loop too (KMSThrottling used to be
   * classified as throttling but not retried). */
  HL_ASSERT(hl_aws_code_retryable("KMSThrottling"));
  HL_ASSERT(hl_aws_code_retryable("KmsThrottled"));
  HL_ASSERT(!hl_aws_code_retryable("AccessDenied"));
  /* JSON errors through the same table. */
  hl_aws_status st;
  static const char j[] = "{\"__type\":\"com.amazonaws.sqs#QueueDoesNotExist\",\"message\":\"gone\"}";
  HL_ASSERT_EQ_INT(hl_aws_classify(400, j, sizeof j - 1, &st), HL_AWS_NOT_FOUND);
  HL_ASSERT_EQ_STR(st.code, "QueueDoesNotExist");
  HL_ASSERT_EQ_INT(st.verdict, HL_AWS_VERDICT_FAIL);
  HL_ASSERT_EQ_INT(hl_aws_classify(200, "{}", 2, &st), HL_AWS_OK);
  HL_ASSERT_EQ_INT(st.verdict, HL_AWS_VERDICT_OK);
}

HL_TEST(form_encoding_keeps_every_byte) {
  hl_buf b = HL_BUF_INIT;
  hl_aws_form_add(&b, "Message", "a+b c&d=e%~/\xc3\xa9", 14);
  HL_ASSERT_EQ_STR(b.data, "Message=a%2Bb%20c%26d%3De%25~%2F%C3%A9");
  hl_aws_form_addf(&b, "x", 1, "MessageAttributes.entry.%d.Name", 2);
  HL_ASSERT_EQ_STR(b.data, "Message=a%2Bb%20c%26d%3De%25~%2F%C3%A9&MessageAttributes.entry.2.Name=x");
  hl_buf_dispose(&b);
}

/* n times "é" (2 bytes each) into out. */
static const char *e_acute(char *out, size_t n) {
  for (size_t i = 0; i < n; i++) memcpy(out + 2 * i, "\xc3\xa9", 2);
  out[2 * n] = '\0';
  return out;
}

/* EventBridge limits a source to 256 and a detail type to 128 characters,
 * not bytes: the detail type is by default the event type, and one of 100
 * "é" (200 bytes) was refused before any call, its deliveries failed for
 * good, while EventBridge takes it. The same count at registration. */
HL_TEST(an_eventbridge_detail_type_is_counted_in_characters_not_bytes) {
  char err[256], type[2 * 129 + 1], source[2 * 257 + 1];
  hl_events_entry e = {.source = e_acute(source, 200), .detail_type = e_acute(type, 100), .detail = "{}",
                       .detail_len = 2};
  hl_buf body = HL_BUF_INIT;
  HL_ASSERT_MSG(hl_events_put_body(&e, 1, &body, err, sizeof err) == 0, "100 characters refused: %s", err);
  hl_buf_dispose(&body);
  e_acute(type, 128);
  e_acute(source, 256);
  HL_ASSERT_MSG(hl_events_put_body(&e, 1, &body, err, sizeof err) == 0, "128 and 256 characters refused: %s", err);
  hl_buf_dispose(&body);
  e_acute(type, 129);
  HL_ASSERT_EQ_INT(hl_events_put_body(&e, 1, &body, err, sizeof err), HL_EINVAL);
  HL_ASSERT(strstr(err, "detail type"));
  e_acute(type, 128);
  e_acute(source, 257);
  HL_ASSERT_EQ_INT(hl_events_put_body(&e, 1, &body, err, sizeof err), HL_EINVAL);
  HL_ASSERT(strstr(err, "source"));
  HL_ASSERT(body.len == 0);
  /* Registration counts the same way. */
  char json[2048], ptr[160], why[256];
  snprintf(json, sizeof json, "{\"type\":\"eventbridge\",\"source\":\"%s\",\"detail_type\":\"%s\"}",
           e_acute(source, 256), e_acute(type, 128));
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  HL_ASSERT_EQ_INT(hl_json_parse(&doc, json, strlen(json), NULL), 0);
  hl_destination *d = NULL;
  HL_ASSERT_MSG(hl_destination_parse(doc.root, &d, ptr, sizeof ptr, why, sizeof why) == 0, "%s: %s", ptr, why);
  hl_destination_free(d);
  hl_json_doc_dispose(&doc);
  snprintf(json, sizeof json, "{\"type\":\"eventbridge\",\"source\":\"s\",\"detail_type\":\"%s\"}",
           e_acute(type, 129));
  hl_json_doc_init(&doc);
  HL_ASSERT_EQ_INT(hl_json_parse(&doc, json, strlen(json), NULL), 0);
  HL_ASSERT_EQ_INT(hl_destination_parse(doc.root, &d, ptr, sizeof ptr, why, sizeof why), HL_EINVAL);
  HL_ASSERT_EQ_STR(ptr, "/detail_type");
  hl_json_doc_dispose(&doc);
}

/* A detail EventBridge cannot take (over 256 KiB) is refused for its size
 * before it is parsed: parsing it first held the loop ~50 ms for an event
 * of 1 MB, to refuse it after. Not JSON at all, it is still refused for
 * its size, which shows it was never read. */
HL_TEST(an_eventbridge_detail_over_256_kib_is_refused_before_it_is_parsed) {
  size_t len = HL_AWS_MESSAGE_MAX + 1;
  char *detail = malloc(len), err[256];
  memset(detail, '[', len);
  detail[0] = '{';
  hl_events_entry e = {.source = "s", .detail_type = "t", .detail = detail, .detail_len = len};
  hl_buf body = HL_BUF_INIT;
  HL_ASSERT_EQ_INT(hl_events_put_body(&e, 1, &body, err, sizeof err), HL_EINVAL);
  HL_ASSERT_MSG(strstr(err, "262144") != NULL, "%s", err);
  e.detail_len = 2; /* "{[": under the size, and now read */
  HL_ASSERT_EQ_INT(hl_events_put_body(&e, 1, &body, err, sizeof err), HL_EINVAL);
  HL_ASSERT_MSG(strstr(err, "JSON object") != NULL, "%s", err);
  HL_ASSERT(body.len == 0);
  free(detail);
}
