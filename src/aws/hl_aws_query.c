#include "aws/hl_aws_query.h"

#include <expat.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/hl_common.h"
#include "crypto/hl_sigv4.h"

void hl_aws_form_add(hl_buf *body, const char *key, const char *value, size_t value_len) {
  if (body->len) hl_buf_putc(body, '&');
  hl_sigv4_uri_encode(body, key, strlen(key), false);
  hl_buf_putc(body, '=');
  hl_sigv4_uri_encode(body, value ? value : "", value ? value_len : 0, false);
}

void hl_aws_form_addf(hl_buf *body, const char *value, size_t value_len, const char *key_fmt, ...) {
  char key[256];
  va_list ap;
  va_start(ap, key_fmt);
  vsnprintf(key, sizeof key, key_fmt, ap);
  va_end(ap);
  hl_aws_form_add(body, key, value, value_len);
}

/* --- XML ------------------------------------------------------------------- */
#define XML_DEPTH_MAX 32

typedef struct {
  XML_Parser p;
  const char *const *path;
  size_t want;             /* path length */
  const char *stack[XML_DEPTH_MAX]; /* local names of the open elements (pointers into path or NULL) */
  size_t depth;            /* open elements */
  bool capturing, found;
  size_t capture_depth;
  hl_buf *out;
} xml_find;

/* With namespace processing, expat names elements "uri|local". */
static const char *local_name(const char *name) {
  const char *bar = strrchr(name, '|');
  return bar ? bar + 1 : name;
}

static bool path_matches(const xml_find *f) {
  if (f->depth < f->want) return false;
  for (size_t i = 0; i < f->want; i++) {
    const char *s = f->stack[f->depth - f->want + i];
    if (!s || strcmp(s, f->path[i]) != 0) return false;
  }
  return true;
}

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs) {
  (void)attrs;
  xml_find *f = data;
  if (f->found) return;
  if (f->depth >= XML_DEPTH_MAX) {
    XML_StopParser(f->p, XML_FALSE);
    return;
  }
  /* Only names that occur in the path are kept (as pointers into it). */
  const char *local = local_name(name), *kept = NULL;
  for (size_t i = 0; i < f->want && !kept; i++)
    if (strcmp(local, f->path[i]) == 0) kept = f->path[i];
  f->stack[f->depth++] = kept;
  if (!f->capturing && path_matches(f)) {
    f->capturing = true;
    f->capture_depth = f->depth;
  }
}

static void XMLCALL on_end(void *data, const XML_Char *name) {
  (void)name;
  xml_find *f = data;
  if (f->found || f->depth == 0) return;
  if (f->capturing && f->depth == f->capture_depth) {
    f->capturing = false;
    f->found = true;
  }
  f->depth--;
}

static void XMLCALL on_text(void *data, const XML_Char *s, int len) {
  xml_find *f = data;
  if (f->capturing && !f->found && f->depth == f->capture_depth) hl_buf_append(f->out, s, (size_t)len);
}

/* A DOCTYPE is never part of an AWS answer; refusing it keeps entity
 * expansion out of the question. */
static void XMLCALL on_doctype(void *data, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset) {
  (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
  xml_find *f = data;
  XML_StopParser(f->p, XML_FALSE);
}

int hl_aws_xml_text(const char *xml, size_t len, const char *const *path, size_t depth, hl_buf *out) {
  if (!xml || !len) return HL_EPARSE;
  if (depth == 0 || depth > XML_DEPTH_MAX || len > INT32_MAX) return HL_EINVAL;
  xml_find f = {.path = path, .want = depth, .out = out};
  f.p = XML_ParserCreateNS(NULL, '|');
  if (!f.p) return HL_ENOMEM;
  XML_SetUserData(f.p, &f);
  XML_SetElementHandler(f.p, on_start, on_end);
  XML_SetCharacterDataHandler(f.p, on_text);
  XML_SetStartDoctypeDeclHandler(f.p, on_doctype);
  size_t before = out->len;
  enum XML_Status st = XML_Parse(f.p, xml, (int)len, XML_TRUE);
  /* Stopped early (too deep, a DOCTYPE) or malformed: nothing is trusted. */
  bool ok = st == XML_STATUS_OK;
  XML_ParserFree(f.p);
  if (!ok) {
    out->len = before;
    if (out->data) out->data[before] = '\0';
    return HL_EPARSE;
  }
  return f.found ? 0 : HL_ENOTFOUND;
}

/* <ErrorResponse><Error><Code>..</Code><Message>..</Message></Error>: the
 * shape of every Query service's error. */
static void parse_error(const char *body, size_t len, hl_aws_status *st) {
  static const char *const code_path[] = {"Error", "Code"};
  static const char *const msg_path[] = {"Error", "Message"};
  hl_buf t = HL_BUF_INIT;
  if (hl_aws_xml_text(body, len, code_path, 2, &t) == 0)
    snprintf(st->code, sizeof st->code, "%s", t.data ? t.data : "");
  hl_buf_reset(&t);
  if (hl_aws_xml_text(body, len, msg_path, 2, &t) == 0)
    snprintf(st->message, sizeof st->message, "%s", t.data ? t.data : "");
  hl_buf_dispose(&t);
}

const hl_aws_protocol hl_aws_protocol_query = {"query", parse_error};
