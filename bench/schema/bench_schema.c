/* JSON Schema throughput on one core: a ~1 KB payment event against a
 * ~30-keyword schema; parse + validate, and validate only (already parsed).
 * Prints per-second figures; run several times and quote the median. */
#include "common/hl_common.h"
#include "schema/hl_schema.h"
#include "../bench_event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *SCHEMA =
    "{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\","
    "\"required\":[\"eventHeader\",\"paymentId\",\"amount\",\"currency\",\"payer\",\"payee\",\"status\"],"
    "\"additionalProperties\":false,"
    "\"properties\":{"
    " \"eventHeader\":{\"type\":\"object\",\"required\":[\"uuid\",\"eventType\",\"createdDate\"],"
    "   \"properties\":{\"uuid\":{\"type\":\"string\",\"format\":\"uuid\",\"minLength\":36,\"maxLength\":36},"
    "   \"eventName\":{\"type\":\"string\"},\"eventType\":{\"const\":\"PaymentProcessed\"},"
    "   \"createdDate\":{\"type\":\"string\",\"pattern\":\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T\"},"
    "   \"savedDate\":{\"type\":\"string\"}}},"
    " \"paymentId\":{\"type\":\"string\",\"pattern\":\"^pay_[A-Za-z0-9]{8,32}$\"},"
    " \"amount\":{\"type\":\"number\",\"exclusiveMinimum\":0,\"maximum\":1000000,\"multipleOf\":0.01},"
    " \"currency\":{\"enum\":[\"EUR\",\"USD\",\"GBP\",\"CHF\",\"JPY\"]},"
    " \"status\":{\"enum\":[\"AUTHORIZED\",\"CAPTURED\",\"SETTLED\",\"REFUNDED\"]},"
    " \"payer\":{\"$ref\":\"#/$defs/party\"},\"payee\":{\"$ref\":\"#/$defs/party\"},"
    " \"items\":{\"type\":\"array\",\"maxItems\":50,\"items\":{\"type\":\"object\",\"required\":[\"sku\",\"qty\"],"
    "   \"properties\":{\"sku\":{\"type\":\"string\",\"minLength\":1},\"qty\":{\"type\":\"integer\",\"minimum\":1},"
    "   \"price\":{\"type\":\"number\",\"minimum\":0}}}},"
    " \"metadata\":{\"type\":\"object\",\"maxProperties\":20,\"additionalProperties\":{\"type\":\"string\",\"maxLength\":200}}"
    "},"
    "\"$defs\":{\"party\":{\"type\":\"object\",\"required\":[\"id\",\"name\"],\"properties\":{"
    "  \"id\":{\"type\":\"string\"},\"name\":{\"type\":\"string\",\"maxLength\":100},"
    "  \"country\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":2},\"iban\":{\"type\":\"string\"}}}}}";


static double now_s(void) { return (double)hl_mono_ns() / 1e9; }

int main(int argc, char **argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  hl_json_doc sd, ed;
  hl_json_doc_init(&sd);
  hl_json_doc_init(&ed);
  if (hl_json_parse(&sd, SCHEMA, strlen(SCHEMA), NULL) || hl_json_parse(&ed, EVENT, strlen(EVENT), NULL)) {
    fprintf(stderr, "bench_schema: fixture does not parse\n");
    return 1;
  }
  hl_schema *s = NULL;
  hl_schema_errors errs;
  if (hl_schema_compile(sd.root, NULL, &s, &errs) != 0 || !hl_schema_validate(s, ed.root, &errs)) {
    fprintf(stderr, "bench_schema: fixture does not validate: %s\n", errs.count ? errs.items[0].message : "?");
    return 1;
  }
  size_t keywords = 0;
  for (const char *p = SCHEMA; (p = strchr(p, ':')) != NULL; p++) keywords++;
  /* validate only */
  uint64_t n = 0;
  double t0 = now_s(), t;
  do {
    for (int i = 0; i < 1000; i++) n += hl_schema_validate(s, ed.root, NULL);
    t = now_s() - t0;
  } while (t < seconds);
  double validate_rate = (double)n / t;
  /* parse + validate */
  hl_json_doc d;
  hl_json_doc_init(&d);
  size_t len = strlen(EVENT);
  n = 0;
  t0 = now_s();
  do {
    for (int i = 0; i < 1000; i++) {
      hl_json_doc_reset(&d);
      if (hl_json_parse(&d, EVENT, len, NULL) == 0) n += hl_schema_validate(s, d.root, NULL);
    }
    t = now_s() - t0;
  } while (t < seconds);
  double parse_rate = (double)n / t;
  printf("event: %zu bytes; schema: %zu bytes, ~%zu keyword/value pairs\n", len, strlen(SCHEMA), keywords);
  printf("validate only:    %10.0f events/s per core\n", validate_rate);
  printf("parse + validate: %10.0f events/s per core (%.0f MB/s of JSON)\n", parse_rate, parse_rate * (double)len / 1e6);
  hl_json_doc_dispose(&d);
  hl_schema_free(s);
  hl_json_doc_dispose(&sd);
  hl_json_doc_dispose(&ed);
  return 0;
}
