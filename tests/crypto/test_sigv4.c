/* SigV4 against the AWS test suite, from tests/vectors:
 * sigv4/ (aws-c-auth layout, context.json per case) and sigv4-classic/
 * (.req/.creq/.sts/.authz/.sreq). Canonical request, string to sign and the
 * Authorization header are compared byte for byte. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "crypto/hl_sigv4.h"
#include "json/hl_json.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SUITE_TIME 1440938160 /* 2015-08-30T12:36:00Z */
#define SUITE_AKID "AKIDEXAMPLE"
#define SUITE_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* A request file: "METHOD target HTTP/1.1", header lines (a line starting
 * with blanks continues the previous value), a blank line, the body. The
 * header structs point into text. */
typedef struct {
  char *text;
  char method[16];
  const char *path, *query;
  size_t path_len, query_len;
  hl_sigv4_header h[32];
  size_t nh;
  const char *body;
  size_t body_len;
} req_file;

static void parse_req(req_file *r, char *text, size_t len) {
  memset(r, 0, sizeof *r);
  r->text = text;
  char *end = text + len;
  char *eol = memchr(text, '\n', len);
  if (!eol) eol = end;
  char *sp = memchr(text, ' ', (size_t)(eol - text));
  HL_ASSERT(sp && (size_t)(sp - text) < sizeof r->method);
  memcpy(r->method, text, (size_t)(sp - text));
  /* The target may hold spaces ("/example space/"): it ends at the last
   * " HTTP/" of the line. */
  char *ver = NULL;
  for (char *p = sp; p + 6 <= eol; p++)
    if (memcmp(p, " HTTP/", 6) == 0) ver = p;
  HL_ASSERT(ver);
  char *target = sp + 1;
  char *q = memchr(target, '?', (size_t)(ver - target));
  r->path = target;
  r->path_len = (size_t)((q ? q : ver) - target);
  if (q) {
    r->query = q + 1;
    r->query_len = (size_t)(ver - q - 1);
  }
  char *p = eol < end ? eol + 1 : end;
  while (p < end) {
    char *e = memchr(p, '\n', (size_t)(end - p));
    if (!e) e = end;
    if (e == p) { /* blank line: the body follows */
      r->body = e + 1 <= end ? e + 1 : end;
      r->body_len = (size_t)(end - (char *)r->body);
      if (e == end) r->body_len = 0;
      break;
    }
    if ((*p == ' ' || *p == '\t') && r->nh) {
      /* Continuation: widen the previous value over this line; the signer
       * collapses the line break and blanks into one space. */
      hl_sigv4_header *h = &r->h[r->nh - 1];
      h->value_len = (size_t)(e - h->value);
    } else {
      char *colon = memchr(p, ':', (size_t)(e - p));
      HL_ASSERT(colon && r->nh < HL_ARRAY_SIZE(r->h));
      r->h[r->nh++] = (hl_sigv4_header){p, (size_t)(colon - p), colon + 1, (size_t)(e - colon - 1)};
    }
    p = e < end ? e + 1 : end;
  }
}

static char *read_in(const char *dir, const char *name, size_t *len) {
  char *path = NULL;
  HL_ASSERT(asprintf(&path, "%s/%s", dir, name) > 0);
  size_t l = 0;
  char *t = hl_read_file(path, &l);
  free(path);
  if (len) *len = l;
  return t;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted sub-directory names of dir; returns the count. */
static size_t list_dirs(const char *dir, char ***out) {
  DIR *d = opendir(dir);
  HL_ASSERT_MSG(d, "cannot open %s", dir);
  char **names = NULL;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    names = realloc(names, (n + 1) * sizeof *names);
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_names);
  *out = names;
  return n;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
}

/* Text of the line of text starting with prefix (after it), malloc'd. */
static char *line_after(const char *text, const char *prefix) {
  size_t pl = strlen(prefix);
  for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
    if (strncmp(p, prefix, pl) == 0) {
      const char *e = strchr(p, '\n');
      return strndup(p + pl, e ? (size_t)(e - p - pl) : strlen(p + pl));
    }
  }
  return NULL;
}

static void check_case(const char *name, const hl_sigv4_out *o, const char *creq, const char *sts,
                       const char *authz) {
  HL_ASSERT_MSG(strcmp(o->canonical_request.data, creq) == 0, "%s: canonical request\n--- got\n%s\n--- want\n%s",
                name, o->canonical_request.data, creq);
  HL_ASSERT_MSG(strcmp(o->string_to_sign.data, sts) == 0, "%s: string to sign\n--- got\n%s\n--- want\n%s", name,
                o->string_to_sign.data, sts);
  HL_ASSERT_MSG(strcmp(o->authorization.data, authz) == 0, "%s: authorization\n--- got\n%s\n--- want\n%s", name,
                o->authorization.data, authz);
}

static const hl_sigv4_header *find_add(const hl_sigv4_out *o, const char *name) {
  for (int i = 0; i < o->n_add; i++)
    if (strcasecmp(o->add[i].name, name) == 0) return &o->add[i];
  return NULL;
}

HL_TEST(aws_c_auth_suite_header_and_query_signing) {
  const char *root = hl_vector_path("sigv4");
  char **names;
  size_t n = list_dirs(root, &names), done = 0;
  HL_ASSERT(n >= 38);
  hl_sigv4_key_cache cache;
  hl_sigv4_key_cache_init(&cache);
  for (size_t i = 0; i < n; i++) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, names[i]);
    size_t ctx_len, req_len;
    char *ctx_text = read_in(dir, "context.json", &ctx_len);
    char *req_text = read_in(dir, "request.txt", &req_len);
    char *creq = read_in(dir, "header-canonical-request.txt", NULL);
    char *sts = read_in(dir, "header-string-to-sign.txt", NULL);
    char *sig = read_in(dir, "header-signature.txt", NULL);
    char *sreq = read_in(dir, "header-signed-request.txt", NULL);
    HL_ASSERT_MSG(ctx_text && req_text && creq && sts && sig && sreq, "%s: missing files", names[i]);
    hl_json_doc doc;
    hl_json_doc_init(&doc);
    HL_ASSERT(hl_json_parse(&doc, ctx_text, ctx_len, NULL) == 0);
    const hl_json *c = doc.root, *cr = hl_json_get(c, "credentials");
    hl_aws_creds creds = {hl_json_str(hl_json_get(cr, "access_key_id")),
                          hl_json_str(hl_json_get(cr, "secret_access_key")),
                          hl_json_str(hl_json_get(cr, "token"))};
    const hl_json *omit = hl_json_get(c, "omit_session_token");
    hl_sigv4_params p = {
        .region = hl_json_str(hl_json_get(c, "region")),
        .service = hl_json_str(hl_json_get(c, "service")),
        .time_s = SUITE_TIME,
        .normalize_path = hl_json_get(c, "normalize")->type == HL_JSON_TRUE,
        .sign_body = hl_json_get(c, "sign_body")->type == HL_JSON_TRUE,
        .omit_session_token = omit && omit->type == HL_JSON_TRUE,
    };
    HL_ASSERT_EQ_STR(hl_json_str(hl_json_get(c, "timestamp")), "2015-08-30T12:36:00Z");
    req_file r;
    parse_req(&r, req_text, req_len);
    hl_sigv4_request req = {r.method, r.path, r.path_len, r.query, r.query_len, r.h, r.nh, r.body, r.body_len, NULL};
    hl_sigv4_out o;
    hl_sigv4_out_init(&o);
    HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req, &cache, &o), 0);
    char *authz = line_after(sreq, "Authorization:");
    HL_ASSERT_MSG(authz, "%s: no Authorization line", names[i]);
    check_case(names[i], &o, creq, sts, authz);
    HL_ASSERT_EQ_STR(o.signature, sig);
    /* Every header the signer adds appears in the expected signed request. */
    for (int k = 0; k < o.n_add; k++) {
      char want[4096];
      snprintf(want, sizeof want, "%.*s:%.*s", (int)o.add[k].name_len, o.add[k].name, (int)o.add[k].value_len,
               o.add[k].value);
      HL_ASSERT_MSG(strcasestr(sreq, want) != NULL, "%s: header %s not in the signed request", names[i], want);
    }
    if (p.omit_session_token) HL_ASSERT(find_add(&o, "x-amz-security-token") != NULL);

    /* Query-string signing of the same request. */
    char *qcreq = read_in(dir, "query-canonical-request.txt", NULL);
    char *qsts = read_in(dir, "query-string-to-sign.txt", NULL);
    char *qsig = read_in(dir, "query-signature.txt", NULL);
    char *qsreq = read_in(dir, "query-signed-request.txt", NULL);
    HL_ASSERT_MSG(qcreq && qsts && qsig && qsreq, "%s: missing query files", names[i]);
    int64_t expires;
    HL_ASSERT(hl_json_int64(hl_json_get(c, "expiration_in_seconds"), &expires) == 0);
    HL_ASSERT_EQ_INT(hl_sigv4_presign(&p, &creds, &req, expires, &cache, &o), 0);
    HL_ASSERT_MSG(strcmp(o.canonical_request.data, qcreq) == 0, "%s: query canonical request\n--- got\n%s\n--- want\n%s",
                  names[i], o.canonical_request.data, qcreq);
    HL_ASSERT_MSG(strcmp(o.string_to_sign.data, qsts) == 0, "%s: query string to sign", names[i]);
    HL_ASSERT_EQ_STR(o.signature, qsig);
    HL_ASSERT_EQ_INT(o.n_add, 0);
    /* The request line ends with our parameters. */
    char *line_end = strstr(qsreq, " HTTP/1.1\n");
    HL_ASSERT(line_end);
    size_t al = o.authorization.len;
    HL_ASSERT_MSG((size_t)(line_end - qsreq) > al && memcmp(line_end - al, o.authorization.data, al) == 0 &&
                      (line_end[-(long)al - 1] == '?' || line_end[-(long)al - 1] == '&'),
                  "%s: signed query\n got  %s\n line %.*s", names[i], o.authorization.data, (int)(line_end - qsreq), qsreq);
    free(qcreq);
    free(qsts);
    free(qsig);
    free(qsreq);
    hl_sigv4_out_dispose(&o);
    hl_json_doc_dispose(&doc);
    free(authz);
    free(ctx_text);
    free(req_text);
    free(creq);
    free(sts);
    free(sig);
    free(sreq);
    done++;
  }
  fprintf(stderr, "sigv4: %zu cases, header and query-string signing byte for byte\n", done);
  free_names(names, n);
  hl_sigv4_key_cache_dispose(&cache);
}

static size_t classic_dir(const char *dir, const char *name) {
  char file[256];
  size_t req_len;
  snprintf(file, sizeof file, "%s.req", name);
  char *req_text = read_in(dir, file, &req_len);
  if (!req_text) return 0;
  snprintf(file, sizeof file, "%s.creq", name);
  char *creq = read_in(dir, file, NULL);
  snprintf(file, sizeof file, "%s.sts", name);
  char *sts = read_in(dir, file, NULL);
  snprintf(file, sizeof file, "%s.authz", name);
  char *authz = read_in(dir, file, NULL);
  snprintf(file, sizeof file, "%s.sreq", name);
  char *sreq = read_in(dir, file, NULL);
  HL_ASSERT_MSG(creq && sts && authz, "%s: missing files", name);
  req_file r;
  parse_req(&r, req_text, req_len);
  /* The classic layout puts X-Amz-Date (and sometimes the token) in the
   * request itself. Otherwise a token in the canonical request comes from
   * the credentials and is signed; one only in the signed request was
   * added after signing. */
  char *token = NULL;
  bool token_in_req = false, omit = false;
  for (size_t i = 0; i < r.nh; i++)
    token_in_req |= r.h[i].name_len == 20 && strncasecmp(r.h[i].name, "x-amz-security-token", 20) == 0;
  if (!token_in_req) {
    token = line_after(creq, "x-amz-security-token:");
    if (!token && sreq && (token = line_after(sreq, "X-Amz-Security-Token:"))) omit = true;
  }
  hl_aws_creds creds = {SUITE_AKID, SUITE_SECRET, token};
  hl_sigv4_params p = {.region = "us-east-1", .service = "service", .time_s = SUITE_TIME, .normalize_path = true,
                       .omit_session_token = omit};
  hl_sigv4_request req = {r.method, r.path, r.path_len, r.query, r.query_len, r.h, r.nh, r.body, r.body_len, NULL};
  hl_sigv4_out o;
  hl_sigv4_out_init(&o);
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req, NULL, &o), 0);
  check_case(name, &o, creq, sts, authz);
  HL_ASSERT_EQ_INT(o.n_add, token ? 2 : 1); /* the date was in the request */
  if (token) HL_ASSERT_EQ_STR(find_add(&o, "X-Amz-Security-Token")->value, token);
  hl_sigv4_out_dispose(&o);
  free(token);
  free(req_text);
  free(creq);
  free(sts);
  free(authz);
  free(sreq);
  return 1;
}

static size_t classic_walk(const char *dir) {
  char **names;
  size_t n = list_dirs(dir, &names), done = 0;
  for (size_t i = 0; i < n; i++) {
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
    size_t k = classic_dir(sub, names[i]);
    done += k ? k : classic_walk(sub); /* normalize-path/, post-sts-token/ */
  }
  free_names(names, n);
  return done;
}

HL_TEST(classic_suite) {
  size_t done = classic_walk(hl_vector_path("sigv4-classic"));
  fprintf(stderr, "sigv4-classic: %zu cases byte for byte\n", done);
  HL_ASSERT_EQ_INT((int)done, 34); /* every .req file of the folder */
}

static const char *creq_of(const hl_sigv4_params *p, const char *path, const char *query) {
  static hl_sigv4_out o;
  static bool init;
  if (!init) hl_sigv4_out_init(&o), init = true;
  hl_sigv4_header h[] = {{"Host", 4, "example.amazonaws.com", 21}};
  hl_sigv4_request req = {"GET", path, strlen(path), query, query ? strlen(query) : 0, h, 1, NULL, 0, NULL};
  hl_aws_creds creds = {SUITE_AKID, SUITE_SECRET, NULL};
  HL_ASSERT_EQ_INT(hl_sigv4_sign(p, &creds, &req, NULL, &o), 0);
  /* Lines 2 and 3: the canonical URI and query. */
  static char lines[1024];
  const char *a = strchr(o.canonical_request.data, '\n') + 1;
  const char *b = strchr(strchr(a, '\n') + 1, '\n');
  snprintf(lines, sizeof lines, "%.*s", (int)(b - a), a);
  return lines;
}

HL_TEST(paths_and_queries) {
  hl_sigv4_params p = {.region = "us-east-1", .service = "dynamodb", .time_s = SUITE_TIME, .normalize_path = true};
  HL_ASSERT_EQ_STR(creq_of(&p, "", NULL), "/\n");
  HL_ASSERT_EQ_STR(creq_of(&p, "/a/b/../c/./d", NULL), "/a/c/d\n");
  HL_ASSERT_EQ_STR(creq_of(&p, "/../../a", NULL), "/a\n");
  HL_ASSERT_EQ_STR(creq_of(&p, "/a/b/..", NULL), "/a/\n");
  HL_ASSERT_EQ_STR(creq_of(&p, "/a//b///c/", NULL), "/a/b/c/\n");
  HL_ASSERT_EQ_STR(creq_of(&p, "/a..b/.c", NULL), "/a..b/.c\n");
  /* Non-S3 services sign the already-encoded path encoded again. */
  HL_ASSERT_EQ_STR(creq_of(&p, "/a%20b", NULL), "/a%2520b\n");
  HL_ASSERT_EQ_STR(creq_of(&p, "/\xc3\xa9+*", NULL), "/%C3%A9%2B%2A\n");
  /* Queries: decoded then re-encoded, sorted by key then value, empty
   * values kept, empty pieces dropped. */
  HL_ASSERT_EQ_STR(creq_of(&p, "/", "b=2&a=&c&a=1"), "/\na=&a=1&b=2&c=");
  HL_ASSERT_EQ_STR(creq_of(&p, "/", "&&x=1&"), "/\nx=1");
  HL_ASSERT_EQ_STR(creq_of(&p, "/", "k=a b+c%2Fd%zz"), "/\nk=a%20b%2Bc%2Fd%25zz");
  HL_ASSERT_EQ_STR(creq_of(&p, "/", "k=%e1%88%b4"), "/\nk=%E1%88%B4");
  HL_ASSERT_EQ_STR(creq_of(&p, "/", "B=1&a=1&_=1"), "/\nB=1&_=1&a=1");
  p.normalize_path = false; /* S3 */
  HL_ASSERT_EQ_STR(creq_of(&p, "/a//b/../c", NULL), "/a//b/../c\n");
  hl_buf b = HL_BUF_INIT;
  hl_sigv4_uri_encode(&b, "a/b c~", 6, false);
  HL_ASSERT_EQ_STR(b.data, "a%2Fb%20c~");
  hl_buf_dispose(&b);
}

/* Compares a signature with what botocore computed for the same request
 * (tests/vectors/sigv4-botocore: the script and its output). */
static void same_as_botocore(const hl_json *cases, const char *name, const hl_sigv4_out *o) {
  const hl_json *c = hl_json_find(cases, "name", name);
  HL_ASSERT_MSG(c, "no botocore case %s", name);
  HL_ASSERT_EQ_STR(o->canonical_request.data, hl_json_str(hl_json_get(c, "canonical_request")));
  HL_ASSERT_EQ_STR(o->string_to_sign.data, hl_json_str(hl_json_get(c, "string_to_sign")));
  HL_ASSERT_EQ_STR(o->authorization.data, hl_json_str(hl_json_get(c, "authorization")));
  HL_ASSERT_EQ_STR(o->amz_date, hl_json_str(hl_json_get(c, "x_amz_date")));
}

/* A DynamoDB request as the store sends it, with session credentials. The
 * expected strings were computed by botocore's signer, not by ours. */
HL_TEST(dynamodb_request_and_key_cache) {
  hl_json_doc bdoc;
  const hl_json *bcases = hl_json_get(hl_vector_json("sigv4-botocore/dynamodb.json", &bdoc), "cases");
  const char *body = "{\"TableName\":\"idempotency_ledger\",\"Key\":{\"idempotency_key\":{\"S\":\"sub_1#evt_1\"}}}";
  hl_sigv4_header h[] = {
      {"Host", 4, "dynamodb.eu-west-1.amazonaws.com", 32},
      {"Content-Type", 12, "application/x-amz-json-1.0", 26},
      {"X-Amz-Target", 12, "DynamoDB_20120810.GetItem", 25},
  };
  hl_sigv4_request req = {"POST", "/", 1, NULL, 0, h, 3, body, strlen(body), NULL};
  hl_aws_creds creds = {"ASIAEXAMPLE", SUITE_SECRET, "FQoGZXIvYXdzEXAMPLE"};
  hl_sigv4_params p = {.region = "eu-west-1", .service = "dynamodb", .time_s = 1700000000, .normalize_path = true};
  hl_sigv4_key_cache cache;
  hl_sigv4_key_cache_init(&cache);
  hl_sigv4_out o, o2;
  hl_sigv4_out_init(&o);
  hl_sigv4_out_init(&o2);
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req, &cache, &o), 0);
  HL_ASSERT_EQ_STR(o.amz_date, "20231114T221320Z");
  HL_ASSERT(strstr(o.canonical_request.data,
                   "content-type:application/x-amz-json-1.0\nhost:dynamodb.eu-west-1.amazonaws.com\n"
                   "x-amz-date:20231114T221320Z\nx-amz-security-token:FQoGZXIvYXdzEXAMPLE\n"
                   "x-amz-target:DynamoDB_20120810.GetItem\n\n"
                   "content-type;host;x-amz-date;x-amz-security-token;x-amz-target\n") != NULL);
  const char *want_auth = "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20231114/eu-west-1/dynamodb/aws4_request, "
                          "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature=";
  HL_ASSERT(strncmp(o.authorization.data, want_auth, strlen(want_auth)) == 0);
  HL_ASSERT_EQ_INT(strlen(o.authorization.data), strlen(want_auth) + 64);
  HL_ASSERT_EQ_INT(o.n_add, 3);
  HL_ASSERT_EQ_STR(o.add[0].name, "X-Amz-Date");
  HL_ASSERT_EQ_STR(o.add[1].value, "FQoGZXIvYXdzEXAMPLE");
  HL_ASSERT_EQ_STR(o.add[2].name, "Authorization");
  HL_ASSERT(cache.valid && strcmp(cache.date, "20231114") == 0);
  /* Cached, uncached and with a caller-supplied payload hash: same result. */
  char ph[65];
  uint8_t d[32];
  hl_sha256(body, strlen(body), d);
  hl_hex(d, 32, ph);
  hl_sigv4_request req2 = req;
  req2.payload_hash = ph;
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req2, &cache, &o2), 0);
  HL_ASSERT_EQ_STR(o2.authorization.data, o.authorization.data);
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req, NULL, &o2), 0);
  HL_ASSERT_EQ_STR(o2.authorization.data, o.authorization.data);
  /* Byte for byte what botocore signs for the same request. */
  same_as_botocore(bcases, "get_item_session_token", &o);
  /* A rotated secret or a new day replaces the cached key. */
  uint8_t old[32];
  memcpy(old, cache.key, 32);
  hl_aws_creds rotated = {"ASIAEXAMPLE", "another-secret", NULL};
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &rotated, &req, &cache, &o2), 0);
  HL_ASSERT(memcmp(old, cache.key, 32) != 0);
  HL_ASSERT(strcmp(o2.signature, o.signature) != 0);
  HL_ASSERT_EQ_INT(o2.n_add, 2); /* no token */
  same_as_botocore(bcases, "get_item_rotated_secret_no_token", &o2);
  p.time_s += 86400;
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req, &cache, &o2), 0);
  HL_ASSERT_EQ_STR(cache.date, "20231115");
  same_as_botocore(bcases, "get_item_next_day", &o2);
  /* The key cache never holds the secret itself. */
  HL_ASSERT(memmem(&cache, sizeof cache, SUITE_SECRET, strlen(SUITE_SECRET)) == NULL);
  /* Errors. */
  hl_aws_creds none = {"AKID", "", NULL};
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &none, &req, &cache, &o2), HL_EINVAL);
  hl_sigv4_params noreg = p;
  noreg.region = "";
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&noreg, &creds, &req, &cache, &o2), HL_EINVAL);
  req2.payload_hash = "abc";
  HL_ASSERT_EQ_INT(hl_sigv4_sign(&p, &creds, &req2, &cache, &o2), HL_EINVAL);
  hl_sigv4_out_dispose(&o);
  hl_sigv4_out_dispose(&o2);
  hl_sigv4_key_cache_dispose(&cache);
  hl_json_doc_dispose(&bdoc);
}
