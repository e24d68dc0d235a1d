/* docs/openapi.json, as compiled into hookloop and served at /openapi.json,
 * held to the code: the same routes both ways (hl_api_routes, the table
 * the router reads), the token each route asks for, every path parameter
 * declared, every "$ref" resolving, and every example validating against
 * its schema with hookloop's own validator. tests/api/test_openapi_answers.c
 * validates real answers. */
#include "hl_test.h"
#include "openapi_check.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "api/hl_api.h"
#include "api/hl_api_console.h"
#include "hl_testutil.h"
#include "schema/hl_schema.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const char *const METHODS[] = {"get", "put", "post", "delete", "options", "head", "patch", "trace"};

static void load(oa_doc *d) {
  size_t len;
  const char *text = hl_api_openapi_json(&len);
  oa_load(d, text, len);
}

static bool route_exists(const char *pattern, const char *method) {
  for (const hl_api_route *r = hl_api_routes; r->method; r++)
    if (strcmp(r->pattern, pattern) == 0 && strcasecmp(r->method, method) == 0) return true;
  return false;
}

HL_TEST(the_document_and_the_route_table_name_the_same_operations) {
  oa_doc d;
  load(&d);
  hl_buf missing = HL_BUF_INIT, extra = HL_BUF_INIT;
  size_t nroutes = 0;
  for (const hl_api_route *r = hl_api_routes; r->method; r++, nroutes++)
    if (!oa_operation(&d, r->pattern, r->method)) hl_buf_printf(&missing, "\n  %s %s", r->method, r->pattern);
  size_t nops = 0;
  for (uint32_t i = 0; i < d.paths->len; i++) {
    const hl_json_member *m = &d.paths->u.members[i];
    for (size_t k = 0; k < HL_ARRAY_SIZE(METHODS); k++) {
      if (!hl_json_get(&m->value, METHODS[k])) continue;
      nops++;
      if (!route_exists(m->key, METHODS[k])) hl_buf_printf(&extra, "\n  %s %s", METHODS[k], m->key);
    }
  }
  HL_ASSERT_MSG(missing.len == 0, "routes the code serves that docs/openapi.json does not describe:%s", missing.data);
  HL_ASSERT_MSG(extra.len == 0, "operations docs/openapi.json describes that no route serves:%s", extra.data);
  HL_ASSERT_EQ_INT(nops, nroutes);
  HL_ASSERT(nroutes >= 18);
  hl_buf_dispose(&missing);
  hl_buf_dispose(&extra);
  oa_dispose(&d);
}

/* The document is OpenAPI 3.1 by the OpenAPI Initiative's own schema of
 * such documents (tests/vectors/openapi-3.1), checked with hookloop's
 * validator: a misspelt member ("reponses") or a wrongly typed one fails. */
HL_TEST(the_document_is_valid_openapi_3_1) {
  oa_doc d;
  load(&d);
  hl_json_doc sd;
  const hl_json *oas = hl_vector_json("openapi-3.1/schema.json", &sd);
  HL_ASSERT(oas != NULL);
  hl_schema *s = NULL;
  hl_schema_errors errs;
  hl_schema_errors_init(&errs);
  HL_ASSERT_MSG(hl_schema_compile(oas, NULL, &s, &errs) == 0, "the OpenAPI schema does not compile: %s",
                errs.count ? errs.items[0].message : "?");
  hl_buf why = HL_BUF_INIT;
  bool ok = hl_schema_validate(s, d.doc.root, &errs);
  for (size_t i = 0; i < errs.count; i++) hl_buf_printf(&why, "\n  %s", errs.items[i].message);
  HL_ASSERT_MSG(ok, "docs/openapi.json is not a valid OpenAPI 3.1 document:%s", why.data);
  /* and the check does refuse: a misspelt member of an operation */
  hl_json_doc bad;
  hl_json_doc_init(&bad);
  static const char broken[] = "{\"openapi\":\"3.1.0\",\"info\":{\"title\":\"t\",\"version\":\"1\"},"
                               "\"paths\":{\"/x\":{\"get\":{\"reponses\":{}}}}}";
  HL_ASSERT(hl_json_parse(&bad, broken, strlen(broken), NULL) == 0);
  HL_ASSERT(!hl_schema_validate(s, bad.root, NULL));
  hl_json_doc_dispose(&bad);
  hl_buf_dispose(&why);
  hl_schema_errors_dispose(&errs);
  hl_schema_free(s);
  hl_json_doc_dispose(&sd);
  oa_dispose(&d);
}

/* Admin routes list the admin token, producer routes the API token (each
 * with {} beside it: a token that is not set asks for nothing), the open
 * ones none. */
HL_TEST(each_operation_names_the_token_its_route_checks) {
  oa_doc d;
  load(&d);
  for (const hl_api_route *r = hl_api_routes; r->method; r++) {
    const hl_json *sec = hl_json_get(oa_operation(&d, r->pattern, r->method), "security");
    HL_ASSERT_MSG(sec && sec->type == HL_JSON_ARRAY, "%s %s: no security list", r->method, r->pattern);
    if (r->auth == HL_API_AUTH_NONE) {
      HL_ASSERT_MSG(sec->len == 0, "%s %s is open, but its security lists %u requirements", r->method, r->pattern, sec->len);
      continue;
    }
    const char *want = r->auth == HL_API_AUTH_ADMIN ? "adminToken" : "apiToken";
    HL_ASSERT_MSG(sec->len == 2 && hl_json_get(&sec->u.items[0], want) && sec->u.items[0].len == 1 &&
                      sec->u.items[1].type == HL_JSON_OBJECT && sec->u.items[1].len == 0,
                  "%s %s: security should be [{\"%s\": []}, {}]", r->method, r->pattern, want);
  }
  oa_dispose(&d);
}

static bool declares(const hl_json *params, const char *name) {
  for (uint32_t i = 0; params && i < params->len; i++) {
    const hl_json *p = &params->u.items[i];
    const char *n = hl_json_str(hl_json_get(p, "name")), *in = hl_json_str(hl_json_get(p, "in"));
    if (n && in && strcmp(n, name) == 0 && strcmp(in, "path") == 0 && hl_json_get(p, "required") &&
        hl_json_get(p, "required")->type == HL_JSON_TRUE)
      return true;
  }
  return false;
}

HL_TEST(every_path_parameter_is_declared_and_required) {
  oa_doc d;
  load(&d);
  for (const hl_api_route *r = hl_api_routes; r->method; r++) {
    const hl_json *path_params = hl_json_get(hl_json_get(d.paths, r->pattern), "parameters");
    const hl_json *op_params = hl_json_get(oa_operation(&d, r->pattern, r->method), "parameters");
    for (const char *p = strchr(r->pattern, '{'); p; p = strchr(p + 1, '{')) {
      char name[64];
      size_t n = strcspn(p + 1, "}");
      snprintf(name, sizeof name, "%.*s", (int)n, p + 1);
      HL_ASSERT_MSG(declares(path_params, name) || declares(op_params, name),
                    "%s %s: the path parameter %s is not declared (in: path, required: true)", r->method, r->pattern, name);
    }
  }
  oa_dispose(&d);
}

/* The query parameters a list of parameters declares, space-separated,
 * appended to out. */
static void query_names(const hl_json *params, hl_buf *out) {
  for (uint32_t i = 0; params && i < params->len; i++) {
    const hl_json *p = &params->u.items[i];
    const char *n = hl_json_str(hl_json_get(p, "name")), *in = hl_json_str(hl_json_get(p, "in"));
    HL_ASSERT_MSG(!hl_json_get(p, "$ref"), "a parameter by $ref: read it here too");
    if (n && in && strcmp(in, "query") == 0) hl_buf_printf(out, "%s%s", out->len ? " " : "", n);
  }
}

/* The router refuses a query parameter its route does not list
 * (hl_api_route.query): the document declares exactly those, in order. */
HL_TEST(every_query_parameter_a_route_takes_is_declared_and_no_other) {
  oa_doc d;
  load(&d);
  size_t with = 0;
  for (const hl_api_route *r = hl_api_routes; r->method; r++) {
    hl_buf names = HL_BUF_INIT;
    query_names(hl_json_get(hl_json_get(d.paths, r->pattern), "parameters"), &names);
    query_names(hl_json_get(oa_operation(&d, r->pattern, r->method), "parameters"), &names);
    if (r->auth != HL_API_AUTH_NONE || names.len) {
      HL_ASSERT_MSG(strcmp(names.data ? names.data : "", r->query ? r->query : "") == 0,
                    "%s %s: the document declares the query parameters \"%s\", the route takes \"%s\"", r->method,
                    r->pattern, names.data ? names.data : "", r->query ? r->query : "");
    }
    if (r->query) with++;
    hl_buf_dispose(&names);
  }
  HL_ASSERT_EQ_INT(with, 3);
  oa_dispose(&d);
}

static void check_refs(const hl_json *root, const hl_json *v, hl_buf *bad, size_t *count) {
  if (v->type == HL_JSON_OBJECT) {
    for (uint32_t i = 0; i < v->len; i++) {
      const hl_json_member *m = &v->u.members[i];
      if (strcmp(m->key, "$ref") == 0 && m->value.type == HL_JSON_STRING) {
        const char *ref = m->value.u.str;
        (*count)++;
        if (ref[0] != '#' || !hl_json_pointer(root, ref + 1, strlen(ref + 1))) hl_buf_printf(bad, "\n  %s", ref);
      } else {
        check_refs(root, &m->value, bad, count);
      }
    }
  } else if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) check_refs(root, &v->u.items[i], bad, count);
  }
}

HL_TEST(every_ref_points_into_the_document) {
  oa_doc d;
  load(&d);
  hl_buf bad = HL_BUF_INIT;
  size_t count = 0;
  check_refs(d.doc.root, d.doc.root, &bad, &count);
  HL_ASSERT_MSG(bad.len == 0, "references that resolve to nothing in the document:%s", bad.data);
  HL_ASSERT(count > 50);
  hl_buf_dispose(&bad);
  oa_dispose(&d);
}

/* Every media type object with "examples": each example's value is valid
 * against the media type's schema. */
static void check_examples(const oa_doc *d, const hl_json *v, hl_buf *ptr, hl_buf *bad, size_t *count) {
  if (v->type == HL_JSON_ARRAY) {
    for (uint32_t i = 0; i < v->len; i++) {
      size_t keep = ptr->len;
      hl_buf_printf(ptr, "/%u", i);
      check_examples(d, &v->u.items[i], ptr, bad, count);
      ptr->len = keep;
      ptr->data[keep] = '\0';
    }
    return;
  }
  if (v->type != HL_JSON_OBJECT) return;
  const hl_json *schema = hl_json_get(v, "schema"), *examples = hl_json_get(v, "examples");
  if (schema && examples && examples->type == HL_JSON_OBJECT) {
    size_t keep = ptr->len;
    hl_buf_puts(ptr, "/schema");
    for (uint32_t i = 0; i < examples->len; i++) {
      const hl_json *value = hl_json_get(&examples->u.members[i].value, "value");
      if (!value) continue;
      (*count)++;
      char why[1024];
      if (!oa_validate(d, ptr->data, value, why, sizeof why))
        hl_buf_printf(bad, "\n  %.*s example %s: %s", (int)keep, ptr->data, examples->u.members[i].key, why);
    }
    ptr->len = keep;
    ptr->data[keep] = '\0';
  }
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *m = &v->u.members[i];
    if (strcmp(m->key, "examples") == 0) continue;
    size_t keep = ptr->len;
    hl_json_pointer_append(ptr, m->key, m->key_len);
    check_examples(d, &m->value, ptr, bad, count);
    ptr->len = keep;
    ptr->data[keep] = '\0';
  }
}

HL_TEST(every_example_is_valid_against_its_schema) {
  oa_doc d;
  load(&d);
  hl_buf ptr = HL_BUF_INIT, bad = HL_BUF_INIT;
  hl_buf_puts(&ptr, "");
  size_t count = 0;
  check_examples(&d, d.doc.root, &ptr, &bad, &count);
  HL_ASSERT_MSG(bad.len == 0, "examples their schema refuses:%s", bad.data);
  HL_ASSERT_MSG(count >= 30, "only %zu examples found", count);
  hl_buf_dispose(&ptr);
  hl_buf_dispose(&bad);
  oa_dispose(&d);
}

/* The validation the answers test relies on does refuse: an error without
 * details, a delivery with an unknown status, a subscription showing its
 * secret, an answer of a status the operation does not document. */
HL_TEST(the_schemas_refuse_answers_that_break_them) {
  oa_doc d;
  load(&d);
  char ptr[512], why[512];
  HL_ASSERT(oa_response_schema(&d, "/admin/schemas/{id}", "GET", 404, "application/json", ptr, sizeof ptr));
  static const char ok[] = "{\"error\":\"not_found\",\"message\":\"x\",\"details\":[]}";
  static const char no_details[] = "{\"error\":\"not_found\",\"message\":\"x\"}";
  HL_ASSERT_MSG(oa_validate_text(&d, ptr, ok, strlen(ok), why, sizeof why), "%s", why);
  HL_ASSERT(!oa_validate_text(&d, ptr, no_details, strlen(no_details), why, sizeof why));
  HL_ASSERT(oa_response_schema(&d, "/admin/deliveries", "GET", 200, "application/json", ptr, sizeof ptr));
  static const char bad_status[] =
      "{\"event_id\":\"e\",\"deliveries\":[{\"subscription_id\":\"s\",\"partner_id\":null,\"status\":\"LOST\","
      "\"attempts\":1,\"last_status_code\":null,\"last_error\":null,\"last_latency_ms\":0,\"updated_at\":1,"
      "\"next_attempt_at\":null}]}";
  HL_ASSERT(!oa_validate_text(&d, ptr, bad_status, strlen(bad_status), why, sizeof why));
  HL_ASSERT(strstr(why, "/deliveries/0/status") != NULL);
  HL_ASSERT(oa_response_schema(&d, "/admin/subscriptions/{id}", "GET", 200, "application/json", ptr, sizeof ptr));
  static const char with_secret[] =
      "{\"subscription_id\":\"s\",\"partner_id\":\"p\",\"event_type\":\"T\",\"url\":\"http://x\",\"headers\":null,"
      "\"filter\":null,\"max_in_flight\":1,\"rate_limit_per_s\":0,\"timeout_ms\":100,\"retry_schedule\":null,"
      "\"egress_topic\":\"t\",\"status\":\"ACTIVE\",\"created_at\":1,\"secret\":\"whsec_x\"}";
  HL_ASSERT(!oa_validate_text(&d, ptr, with_secret, strlen(with_secret), why, sizeof why));
  HL_ASSERT(!oa_response_schema(&d, "/admin/schemas/{id}", "GET", 409, "application/json", ptr, sizeof ptr));
  HL_ASSERT(!oa_response_schema(&d, "/admin/schemas/{id}", "GET", 200, "text/html", ptr, sizeof ptr));
  HL_ASSERT_EQ_STR(oa_match_path(&d, "/admin/subscriptions/sub_1"), "/admin/subscriptions/{id}");
  HL_ASSERT_EQ_STR(oa_match_path(&d, "/api/v1/events/bulk"), "/api/v1/events/bulk");
  HL_ASSERT(oa_match_path(&d, "/admin/nothing/here") == NULL);
  oa_dispose(&d);
}
