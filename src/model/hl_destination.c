#include "model/hl_destination.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_arn.h"
#include "aws/hl_aws_msg.h"
#include "common/hl_common.h"

static const char *const type_names[HL_DEST__N] = {"http", "sns", "sqs", "eventbridge"};

const char *hl_dest_type_name(hl_dest_type t) { return t < HL_DEST__N ? type_names[t] : "?"; }

/* The members each type takes (besides "type"). */
static bool member_allowed(hl_dest_type t, const char *k) {
  switch (t) {
  case HL_DEST_SNS: return strcmp(k, "topic_arn") == 0 || strcmp(k, "group_id_pointer") == 0;
  case HL_DEST_SQS: return strcmp(k, "queue_url") == 0 || strcmp(k, "group_id_pointer") == 0;
  case HL_DEST_EVENTBRIDGE:
    return strcmp(k, "bus") == 0 || strcmp(k, "source") == 0 || strcmp(k, "detail_type") == 0;
  default: return false;
  }
}

static int fail(char *ptr, size_t ptrlen, const char *where, char *why, size_t whylen, const char *fmt,
                const char *arg) {
  snprintf(ptr, ptrlen, "%s", where);
  snprintf(why, whylen, fmt, arg);
  return HL_EINVAL;
}

/* A member that must be a non-empty string when present; *out borrows it. */
static int opt_str(const hl_json *v, const char *key, const char **out, char *ptr, size_t ptrlen, char *why,
                   size_t whylen) {
  const hl_json *m = hl_json_get(v, key);
  *out = NULL;
  if (!m || m->type == HL_JSON_NULL) return 0;
  if (m->type != HL_JSON_STRING || m->len == 0 || strlen(m->u.str) != m->len) {
    char where[64];
    snprintf(where, sizeof where, "/%s", key);
    return fail(ptr, ptrlen, where, why, whylen, "expected a non-empty string", NULL);
  }
  *out = m->u.str;
  return 0;
}

int hl_destination_parse(const hl_json *v, hl_destination **out, char *ptr, size_t ptrlen, char *why,
                         size_t whylen) {
  *out = NULL;
  if (!v || v->type != HL_JSON_OBJECT)
    return fail(ptr, ptrlen, "", why, whylen, "expected an object with a \"type\": sns, sqs or eventbridge", NULL);
  const char *type = hl_json_str(hl_json_get(v, "type"));
  hl_dest_type t = HL_DEST__N;
  for (int i = HL_DEST_SNS; type && i < HL_DEST__N; i++)
    if (strcmp(type, type_names[i]) == 0) t = (hl_dest_type)i;
  if (t == HL_DEST__N)
    return fail(ptr, ptrlen, "/type", why, whylen,
                "required: \"sns\", \"sqs\" or \"eventbridge\" (an HTTP endpoint is given as \"url\")", NULL);
  for (uint32_t i = 0; i < v->len; i++) {
    const char *k = v->u.members[i].key;
    if (strcmp(k, "type") == 0 || member_allowed(t, k)) continue;
    char where[160];
    hl_buf p = HL_BUF_INIT;
    hl_json_pointer_append(&p, k, v->u.members[i].key_len);
    snprintf(where, sizeof where, "%s", p.data);
    hl_buf_dispose(&p);
    return fail(ptr, ptrlen, where, why, whylen, "not a member of a %s destination", type_names[t]);
  }
  const char *a = NULL, *b = NULL, *c = NULL, *g = NULL;
  char reason[200];
  bool fifo = false;
  int rc = 0;
  if (t == HL_DEST_SNS || t == HL_DEST_SQS) {
    const char *key = t == HL_DEST_SNS ? "topic_arn" : "queue_url";
    char where[32];
    snprintf(where, sizeof where, "/%s", key);
    if ((rc = opt_str(v, key, &a, ptr, ptrlen, why, whylen)) != 0) return rc;
    if (!a)
      return fail(ptr, ptrlen, where, why, whylen,
                  t == HL_DEST_SNS ? "required: the SNS topic's ARN" : "required: the SQS queue's URL", NULL);
    rc = t == HL_DEST_SNS ? hl_sns_topic_arn_check(a, &fifo, reason, sizeof reason)
                          : hl_sqs_queue_url_check(a, &fifo, reason, sizeof reason);
    if (rc != 0) return fail(ptr, ptrlen, where, why, whylen, "%s", reason);
    if ((rc = opt_str(v, "group_id_pointer", &g, ptr, ptrlen, why, whylen)) != 0) return rc;
    if (g && !hl_json_pointer_valid(g))
      return fail(ptr, ptrlen, "/group_id_pointer", why, whylen, "not a JSON pointer (RFC 6901), e.g. /data/account_id",
                  NULL);
    if (g && !fifo)
      return fail(ptr, ptrlen, "/group_id_pointer", why, whylen,
                  "only FIFO topics and queues (names ending in .fifo) take a message group id", NULL);
  } else {
    if ((rc = opt_str(v, "bus", &a, ptr, ptrlen, why, whylen)) != 0 ||
        (rc = opt_str(v, "source", &b, ptr, ptrlen, why, whylen)) != 0 ||
        (rc = opt_str(v, "detail_type", &c, ptr, ptrlen, why, whylen)) != 0)
      return rc;
    if (a && hl_events_bus_check(a, reason, sizeof reason) != 0)
      return fail(ptr, ptrlen, "/bus", why, whylen, "%s", reason);
    /* Characters, as EventBridge counts them (hl_aws_text_chars), not bytes. */
    if (!b || hl_aws_text_check(b, strlen(b), NULL) != 0 || hl_aws_text_chars(b, strlen(b)) > 256)
      return fail(ptr, ptrlen, "/source", why, whylen, "required: 1 to 256 characters (e.g. com.example.payments)",
                  NULL);
    if (c && (hl_aws_text_check(c, strlen(c), NULL) != 0 || hl_aws_text_chars(c, strlen(c)) > 128))
      return fail(ptr, ptrlen, "/detail_type", why, whylen, "1 to 128 characters", NULL);
  }
  hl_destination *d = hl_calloc(1, sizeof *d);
  d->type = t;
  d->fifo = fifo;
  if (t == HL_DEST_SNS) d->topic_arn = hl_strdup(a);
  if (t == HL_DEST_SQS) d->queue_url = hl_strdup(a);
  if (t == HL_DEST_EVENTBRIDGE) {
    d->bus = a ? hl_strdup(a) : NULL;
    d->source = hl_strdup(b);
    d->detail_type = c ? hl_strdup(c) : NULL;
  }
  d->group_id_pointer = g ? hl_strdup(g) : NULL;
  *out = d;
  return 0;
}

hl_destination *hl_destination_from_text(const char *text, char *why, size_t whylen) {
  hl_json_doc doc;
  hl_json_doc_init(&doc);
  hl_destination *d = NULL;
  char ptr[160], reason[256];
  if (!text || hl_json_parse(&doc, text, strlen(text), NULL) != 0)
    snprintf(why, whylen, "the stored destination is not JSON");
  else if (hl_destination_parse(doc.root, &d, ptr, sizeof ptr, reason, sizeof reason) != 0)
    snprintf(why, whylen, "the stored destination is not usable: %s: %s", ptr, reason);
  hl_json_doc_dispose(&doc);
  return d;
}

static void member(hl_jw *w, const char *k, const char *v) {
  if (!v) return;
  hl_jw_key(w, k);
  hl_jw_str(w, v);
}

void hl_destination_write(hl_jw *w, const hl_destination *d) {
  hl_jw_obj_begin(w);
  member(w, "type", hl_dest_type_name(d->type));
  member(w, "topic_arn", d->topic_arn);
  member(w, "queue_url", d->queue_url);
  member(w, "bus", d->bus);
  member(w, "source", d->source);
  member(w, "detail_type", d->detail_type);
  member(w, "group_id_pointer", d->group_id_pointer);
  hl_jw_obj_end(w);
}

void hl_destination_free(hl_destination *d) {
  if (!d) return;
  hl_free_all(d->topic_arn, d->queue_url, d->bus, d->source, d->detail_type, d->group_id_pointer, d);
}
