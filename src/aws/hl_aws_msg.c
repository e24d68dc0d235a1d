#include "aws/hl_aws_msg.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/hl_common.h"

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length and
 * the code point, or 0 for an ill-formed sequence (overlong forms,
 * surrogates and values over U+10FFFF included). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
  unsigned char c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  size_t len;
  uint32_t v, min;
  if (c >= 0xC2 && c <= 0xDF) len = 2, v = c & 0x1F, min = 0x80;
  else if (c >= 0xE0 && c <= 0xEF) len = 3, v = c & 0x0F, min = 0x800;
  else if (c >= 0xF0 && c <= 0xF4) len = 4, v = c & 0x07, min = 0x10000;
  else return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    v = v << 6 | (s[i] & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

static bool xml_char(uint32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) ||
         (c >= 0x10000 && c <= 0x10FFFF);
}

int hl_aws_text_check(const char *s, size_t len, size_t *bad) {
  const unsigned char *p = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    uint32_t cp;
    size_t n = utf8_next(p + i, len - i, &cp);
    if (n == 0 || !xml_char(cp)) {
      if (bad) *bad = i;
      return HL_EINVAL;
    }
    i += n;
  }
  return 0;
}

size_t hl_aws_text_chars(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) n += ((unsigned char)s[i] & 0xC0) != 0x80; /* each lead byte starts one */
  return n;
}

static bool name_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.';
}

static int attr_name_check(const char *name, char *err, size_t errlen) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > 256) {
    snprintf(err, errlen, "a message attribute name must have 1 to 256 characters");
    return HL_EINVAL;
  }
  for (size_t i = 0; i < n; i++)
    if (!name_char(name[i]) || (name[i] == '.' && (i == 0 || i == n - 1 || name[i + 1] == '.'))) {
      snprintf(err, errlen,
               "message attribute name '%.64s': only A-Z a-z 0-9 _ - . are allowed, and '.' not first, last or "
               "doubled",
               name);
      return HL_EINVAL;
    }
  if (strncasecmp(name, "AWS.", 4) == 0 || strncasecmp(name, "Amazon.", 7) == 0) {
    snprintf(err, errlen, "message attribute name '%.64s': the prefixes AWS. and Amazon. are reserved", name);
    return HL_EINVAL;
  }
  return 0;
}

int hl_aws_message_check(const char *what, const hl_aws_message *m, bool fifo, char *err, size_t errlen) {
  const char *body = m->body;
  size_t body_len = m->len, n_attrs = m->n_attrs, bad;
  const hl_aws_attr *attrs = m->attrs;
  if (body_len == 0) {
    snprintf(err, errlen, "%s is empty", what);
    return HL_EINVAL;
  }
  if (hl_aws_text_check(body, body_len, &bad) != 0) {
    snprintf(err, errlen,
             "%s: byte %zu is not UTF-8 or is a character SNS and SQS cannot carry (allowed: tab, LF, CR, "
             "U+0020-U+D7FF, U+E000-U+FFFD, U+10000-U+10FFFF)",
             what, bad);
    return HL_EINVAL;
  }
  if (n_attrs > HL_AWS_ATTRS_MAX) {
    snprintf(err, errlen, "%zu message attributes: at most %d are allowed", n_attrs, HL_AWS_ATTRS_MAX);
    return HL_EINVAL;
  }
  size_t total = body_len;
  for (size_t i = 0; i < n_attrs; i++) {
    if (attr_name_check(attrs[i].name, err, errlen) != 0) return HL_EINVAL;
    for (size_t j = 0; j < i; j++)
      if (strcmp(attrs[i].name, attrs[j].name) == 0) {
        snprintf(err, errlen, "message attribute '%.64s' is given twice", attrs[i].name);
        return HL_EINVAL;
      }
    size_t vl = attrs[i].value ? strlen(attrs[i].value) : 0;
    if (vl == 0) {
      snprintf(err, errlen, "message attribute '%.64s' has an empty value", attrs[i].name);
      return HL_EINVAL;
    }
    if (hl_aws_text_check(attrs[i].value, vl, &bad) != 0) {
      snprintf(err, errlen, "message attribute '%.64s': byte %zu of the value is not an allowed character",
               attrs[i].name, bad);
      return HL_EINVAL;
    }
    total += strlen(attrs[i].name) + 6 /* "String" */ + vl;
  }
  if (total > HL_AWS_MESSAGE_MAX) {
    snprintf(err, errlen, "%s and its attributes are %zu bytes: at most %d are allowed", what, total,
             HL_AWS_MESSAGE_MAX);
    return HL_EINVAL;
  }
  if (fifo && hl_aws_fifo_id_check("MessageGroupId (required for FIFO)", m->group_id, err, errlen) != 0)
    return HL_EINVAL;
  if (fifo && m->dedup_id && hl_aws_fifo_id_check("MessageDeduplicationId", m->dedup_id, err, errlen) != 0)
    return HL_EINVAL;
  return 0;
}

int hl_aws_fifo_id_check(const char *what, const char *id, char *err, size_t errlen) {
  size_t n = id ? strlen(id) : 0;
  bool ok = n >= 1 && n <= HL_AWS_FIFO_ID_MAX;
  for (size_t i = 0; ok && i < n; i++) ok = id[i] > 0x20 && id[i] < 0x7F;
  if (!ok) {
    snprintf(err, errlen, "%s must have 1 to %d characters of A-Z a-z 0-9 and ASCII punctuation", what,
             HL_AWS_FIFO_ID_MAX);
    return HL_EINVAL;
  }
  return 0;
}

bool hl_aws_message_failed(const hl_aws_message_call *c, const hl_aws_status *st) {
  if (st->verdict == HL_AWS_VERDICT_OK) return false;
  c->cb(c->data, st, NULL);
  return true;
}
