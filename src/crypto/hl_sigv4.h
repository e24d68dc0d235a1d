/* hl_sigv4.h — AWS Signature Version 4 for requests signed in the
 * Authorization header (what the DynamoDB client needs).
 *
 * The signer builds the canonical request (lower-cased sorted header names,
 * trimmed values with whitespace runs collapsed, duplicate names joined with
 * commas, the query re-encoded and sorted by key then value, the path
 * normalised for services other than S3), the string to sign, and the
 * Authorization header (or, for presigned URLs, the query). The signing key
 * is derived once per (date, region, service, secret) and kept in a
 * caller-owned cache.
 *
 * Nothing here logs; no error path reveals the secret key or token. */
#ifndef HL_SIGV4_H
#define HL_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

typedef struct {
  const char *access_key_id;
  const char *secret_access_key;
  const char *session_token; /* NULL or "" for long-term credentials */
} hl_aws_creds;

typedef struct {
  const char *name; /* any case */
  size_t name_len;
  const char *value; /* raw; trimmed and whitespace-collapsed when signing */
  size_t value_len;
} hl_sigv4_header;

typedef struct {
  const char *method;     /* "GET", "POST", ... */
  const char *path;       /* the path as sent on the wire (UTF-8 allowed); "" means "/" */
  size_t path_len;
  const char *query;      /* the query string after '?', without it; NULL or "" for none */
  size_t query_len;
  const hl_sigv4_header *headers; /* must include Host */
  size_t n_headers;
  const void *body;
  size_t body_len;
  const char *payload_hash; /* optional lower-case hex SHA-256 of the body; computed when NULL */
} hl_sigv4_request;

typedef struct {
  const char *region;  /* e.g. "us-east-1" */
  const char *service; /* e.g. "dynamodb" */
  int64_t time_s;      /* signing time, Unix seconds (UTC) */
  /* Remove dot segments and collapse repeated slashes in the path before
   * encoding (every service but S3). */
  bool normalize_path;
  /* Add and sign x-amz-content-sha256 (S3 and a few others want it). */
  bool sign_body;
  /* Add x-amz-security-token after signing instead of signing it (the few
   * services that want it so); normally false. */
  bool omit_session_token;
} hl_sigv4_params;

/* The signing key for one (date, region, service, secret). The secret is
 * remembered only as a SHA-256 fingerprint. Embed one per client;
 * not thread-safe (one loop owns it). Zero-initialise or _init. */
typedef struct {
  bool valid;
  char date[9];
  char region[32];
  char service[32];
  uint8_t secret_fp[32];
  uint8_t key[32];
} hl_sigv4_key_cache;

void hl_sigv4_key_cache_init(hl_sigv4_key_cache *c);
/* Wipes the cached key. */
void hl_sigv4_key_cache_dispose(hl_sigv4_key_cache *c);

/* The results of one signing. add[] lists the headers the caller must send
 * in addition to its own (x-amz-date, x-amz-security-token,
 * x-amz-content-sha256 as applicable, then Authorization); their values
 * point into this struct or into the credentials, valid until
 * hl_sigv4_out_dispose or the next signing with it. */
typedef struct {
  hl_buf canonical_request;
  hl_buf string_to_sign;
  hl_buf authorization;
  char amz_date[17];     /* YYYYMMDDTHHMMSSZ */
  char payload_hash[65];
  char signature[65];
  hl_sigv4_header add[4];
  int n_add;
} hl_sigv4_out;

void hl_sigv4_out_init(hl_sigv4_out *o);
void hl_sigv4_out_dispose(hl_sigv4_out *o);

/* Signs req. cache may be NULL (the key is then derived every time).
 * Returns 0 or a negative hl_err: HL_EINVAL for missing credentials,
 * region, service or method, or a time outside years 1970..9999. A request
 * header named x-amz-date, x-amz-security-token or x-amz-content-sha256
 * is used as given and not added again. */
int hl_sigv4_sign(const hl_sigv4_params *p, const hl_aws_creds *creds, const hl_sigv4_request *req,
                  hl_sigv4_key_cache *cache, hl_sigv4_out *out);

/* Query-string signing (a presigned URL valid for expires_s, 1..604800
 * seconds): the same canonical request with the X-Amz-* parameters in the
 * query instead of headers. out->authorization receives the parameters to
 * append to the request's query ("X-Amz-Algorithm=...&...&X-Amz-Signature=
 * <hex>", already encoded); n_add is 0. Errors as hl_sigv4_sign. */
int hl_sigv4_presign(const hl_sigv4_params *p, const hl_aws_creds *creds, const hl_sigv4_request *req,
                     int64_t expires_s, hl_sigv4_key_cache *cache, hl_sigv4_out *out);

/* Appends the AWS URI encoding of s to out: every byte except A-Z a-z 0-9
 * - _ . ~ becomes %XX (upper-case hex); '/' is kept when keep_slash. */
void hl_sigv4_uri_encode(hl_buf *out, const char *s, size_t len, bool keep_slash);

#endif
