#include "aws/hl_aws_arn.h"

#include <stdio.h>
#include <string.h>

#include "aws/hl_aws_endpoint.h"
#include "common/hl_common.h"

static int fail(char *why, size_t whylen, const char *fmt, const char *s) {
  snprintf(why, whylen, fmt, s);
  return HL_EINVAL;
}

/* Copies field [b, e) into out (cap bytes); false when it does not fit. */
static bool field(const char *b, const char *e, char *out, size_t cap) {
  size_t n = (size_t)(e - b);
  if (n >= cap) return false;
  memcpy(out, b, n);
  out[n] = '\0';
  return true;
}

static bool all_digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

int hl_aws_arn_parse(const char *s, hl_aws_arn *a, char *why, size_t whylen) {
  static const char *const partitions[] = {"aws",       "aws-cn",    "aws-us-gov", "aws-iso",
                                           "aws-iso-b", "aws-iso-e", "aws-iso-f",  "aws-eusc"};
  memset(a, 0, sizeof *a);
  if (!s || strncmp(s, "arn:", 4) != 0) return fail(why, whylen, "'%.80s' is not an ARN (arn:partition:service:region:account:resource)", s ? s : "");
  const char *p[5]; /* starts of partition, service, region, account, resource */
  p[0] = s + 4;
  for (int i = 1; i < 5; i++) {
    const char *c = strchr(p[i - 1], ':');
    if (!c) return fail(why, whylen, "'%.80s' is not an ARN (arn:partition:service:region:account:resource)", s);
    p[i] = c + 1;
  }
  if (!field(p[0], p[1] - 1, a->partition, sizeof a->partition) ||
      !field(p[1], p[2] - 1, a->service, sizeof a->service) || !field(p[2], p[3] - 1, a->region, sizeof a->region) ||
      !field(p[3], p[4] - 1, a->account, sizeof a->account))
    return fail(why, whylen, "'%.80s': a field of the ARN is too long", s);
  bool known = false;
  for (size_t i = 0; i < HL_ARRAY_SIZE(partitions) && !known; i++) known = strcmp(a->partition, partitions[i]) == 0;
  if (!known) return fail(why, whylen, "'%.80s': unknown partition (aws, aws-cn, aws-us-gov, ...)", s);
  if (!a->service[0]) return fail(why, whylen, "'%.80s': the service is missing", s);
  if (a->region[0] && !hl_aws_region_valid(a->region)) return fail(why, whylen, "'%.80s': the region is not a region name", s);
  size_t al = strlen(a->account);
  if (al && (al != 12 || !all_digits(a->account, al))) return fail(why, whylen, "'%.80s': the account must be 12 digits", s);
  a->resource = p[4];
  if (!*a->resource) return fail(why, whylen, "'%.80s': the resource is missing", s);
  return 0;
}

/* A name of 1..max of A-Z a-z 0-9 _ - (plus `extra`), with an optional
 * ".fifo" suffix counted in max when fifo_ok. */
static bool name_ok(const char *n, size_t len, size_t max, const char *extra, bool fifo_ok, bool *fifo) {
  bool f = fifo_ok && len > 5 && strcmp(n + len - 5, ".fifo") == 0;
  if (fifo) *fifo = f;
  if (len == 0 || len > max) return false;
  size_t body = f ? len - 5 : len;
  for (size_t i = 0; i < body; i++) {
    char c = n[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
          (extra && c && strchr(extra, c))))
      return false;
  }
  return body > 0;
}

int hl_sns_topic_arn_check(const char *s, bool *fifo, char *why, size_t whylen) {
  hl_aws_arn a;
  if (hl_aws_arn_parse(s, &a, why, whylen) != 0) return HL_EINVAL;
  if (strcmp(a.service, "sns") != 0) return fail(why, whylen, "'%.80s' is not an SNS topic ARN (arn:aws:sns:...)", s);
  if (!a.region[0] || !a.account[0]) return fail(why, whylen, "'%.80s': an SNS topic ARN names a region and an account", s);
  if (!name_ok(a.resource, strlen(a.resource), 256, NULL, true, fifo))
    return fail(why, whylen,
                "'%.80s': a topic name has 1 to 256 characters of A-Z a-z 0-9 _ - (FIFO topics end in .fifo)", s);
  return 0;
}

int hl_sqs_queue_url_check(const char *s, bool *fifo, char *why, size_t whylen) {
  const char *rest = NULL;
  if (s && strncmp(s, "https://", 8) == 0) rest = s + 8;
  else if (s && strncmp(s, "http://", 7) == 0) rest = s + 7;
  if (!rest) return fail(why, whylen, "'%.80s' is not a queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", s ? s : "");
  size_t hl = strcspn(rest, "/?#");
  if (hl == 0 || rest[hl] != '/') return fail(why, whylen, "'%.80s': a queue URL is https://<host>/<account>/<name>", s);
  for (size_t i = 0; i < hl; i++) {
    char c = rest[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
          c == ':' || c == '[' || c == ']'))
      return fail(why, whylen, "'%.80s': the host of the queue URL is not a host name", s);
  }
  const char *acct = rest + hl + 1;
  const char *slash = strchr(acct, '/');
  if (!slash || slash - acct != 12 || !all_digits(acct, 12))
    return fail(why, whylen, "'%.80s': the queue URL's path must start with the 12-digit account", s);
  const char *name = slash + 1;
  if (strpbrk(name, "/?#") || !name_ok(name, strlen(name), 80, NULL, true, fifo))
    return fail(why, whylen,
                "'%.80s': a queue name has 1 to 80 characters of A-Z a-z 0-9 _ - (FIFO queues end in .fifo)", s);
  return 0;
}

int hl_events_bus_check(const char *s, char *why, size_t whylen) {
  const char *name = s;
  if (s && strncmp(s, "arn:", 4) == 0) {
    hl_aws_arn a;
    if (hl_aws_arn_parse(s, &a, why, whylen) != 0) return HL_EINVAL;
    if (strcmp(a.service, "events") != 0 || strncmp(a.resource, "event-bus/", 10) != 0 || !a.region[0] ||
        !a.account[0])
      return fail(why, whylen, "'%.80s' is not an event bus ARN (arn:aws:events:<region>:<account>:event-bus/<name>)", s);
    name = a.resource + 10;
  }
  if (!name || !name_ok(name, strlen(name), 256, "./", false, NULL))
    return fail(why, whylen, "'%.80s': an event bus name has 1 to 256 characters of A-Z a-z 0-9 . _ - /", s ? s : "");
  return 0;
}
