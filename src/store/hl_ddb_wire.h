/* hl_ddb_wire.h — the DynamoDB JSON protocol (awsJson1_0) without I/O:
 * request bodies for the operations the store uses, and the reading of
 * items in responses.
 *
 * Requests go as POST / with Content-Type application/x-amz-json-1.0 and
 * X-Amz-Target hl_ddb_target(op); the transport, signing and error answers
 * are AWS JSON's in general (aws/hl_aws_json.h).
 * Attribute values are typed; N values are decimal strings and never pass
 * through a double. Builders borrow every input and append to the caller's
 * buffer; they return 0 or HL_EINVAL (nothing useful was appended then). */
#ifndef HL_DDB_WIRE_H
#define HL_DDB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "json/hl_json.h"

/* The operations, each as the enum's name and DynamoDB's: listed once, for
 * the enum and the targets of hl_ddb_target. */
#define HL_DDB_OPS(X)                                                                                       \
  X(GET_ITEM, GetItem) X(PUT_ITEM, PutItem) X(UPDATE_ITEM, UpdateItem) X(DELETE_ITEM, DeleteItem)         \
  X(QUERY, Query) X(BATCH_WRITE_ITEM, BatchWriteItem) X(CREATE_TABLE, CreateTable)                        \
  X(UPDATE_TIME_TO_LIVE, UpdateTimeToLive) X(DESCRIBE_TABLE, DescribeTable) X(SCAN, Scan)                 \
  X(BATCH_GET_ITEM, BatchGetItem) X(UPDATE_CONTINUOUS_BACKUPS, UpdateContinuousBackups)
#define HL_DDB_OP_ENUM(name, op) HL_DDB_##name,
typedef enum { HL_DDB_OPS(HL_DDB_OP_ENUM) } hl_ddb_op;
#undef HL_DDB_OP_ENUM

/* "DynamoDB_20120810.<Operation>", static. */
const char *hl_ddb_target(hl_ddb_op op);
#define HL_DDB_CONTENT_TYPE "application/x-amz-json-1.0"

/* --- attribute values ----------------------------------------------------- */
typedef enum { HL_DDB_S, HL_DDB_N, HL_DDB_BOOL, HL_DDB_NULL, HL_DDB_M, HL_DDB_L } hl_ddb_type;

typedef struct hl_ddb_val hl_ddb_val;
typedef struct hl_ddb_attr hl_ddb_attr;

struct hl_ddb_val {
  hl_ddb_type type;
  const char *s; /* S: UTF-8 text; N: decimal text */
  size_t len;
  bool b;                   /* BOOL */
  const hl_ddb_attr *attrs; /* M */
  const hl_ddb_val *items;  /* L */
  size_t n;                 /* M, L: count */
};

struct hl_ddb_attr {
  const char *name;
  hl_ddb_val v;
};

/* An item or key: named attribute values. */
typedef struct {
  const hl_ddb_attr *attrs;
  size_t n;
} hl_ddb_item;

#define HL_DDB_ITEM(arr) ((hl_ddb_item){(arr), sizeof(arr) / sizeof((arr)[0])})

static inline hl_ddb_val hl_ddb_s(const char *s) { return (hl_ddb_val){.type = HL_DDB_S, .s = s, .len = __builtin_strlen(s)}; }
static inline hl_ddb_val hl_ddb_sn(const char *s, size_t n) { return (hl_ddb_val){.type = HL_DDB_S, .s = s, .len = n}; }
/* A number given as decimal text (validated when written). */
static inline hl_ddb_val hl_ddb_n(const char *s) { return (hl_ddb_val){.type = HL_DDB_N, .s = s, .len = __builtin_strlen(s)}; }
static inline hl_ddb_val hl_ddb_bool(bool b) { return (hl_ddb_val){.type = HL_DDB_BOOL, .b = b}; }
static inline hl_ddb_val hl_ddb_null(void) { return (hl_ddb_val){.type = HL_DDB_NULL}; }
static inline hl_ddb_val hl_ddb_m(const hl_ddb_attr *a, size_t n) { return (hl_ddb_val){.type = HL_DDB_M, .attrs = a, .n = n}; }
static inline hl_ddb_val hl_ddb_l(const hl_ddb_val *v, size_t n) { return (hl_ddb_val){.type = HL_DDB_L, .items = v, .n = n}; }

/* Writes an integer's decimal text into buf (24 bytes) for hl_ddb_n. */
const char *hl_ddb_i64(char buf[24], int64_t v);
/* true when s is a number DynamoDB accepts: [-]digits[.digits][e[+-]digits]
 * (or .digits) with at most 38 significant digits, zero or of a magnitude
 * from 1E-130 to under 1E+126. */
bool hl_ddb_number_valid(const char *s, size_t len);
/* Writes one typed value ({"S": ...} etc.) with w. HL_EINVAL for a bad N,
 * an empty name in an M, or nesting deeper than 32. */
int hl_ddb_write_val(hl_jw *w, const hl_ddb_val *v);
/* Writes an item as a JSON object of typed values. */
int hl_ddb_write_item(hl_jw *w, hl_ddb_item item);

/* --- request bodies ------------------------------------------------------- */
typedef struct {
  const char *placeholder; /* "#st" */
  const char *name;        /* "status" */
} hl_ddb_name;

/* Expressions and options shared by the item operations; every member may
 * be zero/NULL. */
typedef struct {
  const char *condition;       /* ConditionExpression */
  const char *update;          /* UpdateExpression (UpdateItem) */
  const hl_ddb_name *names;    /* ExpressionAttributeNames */
  size_t n_names;
  const hl_ddb_attr *values;   /* ExpressionAttributeValues (":v" names) */
  size_t n_values;
  const char *return_values;   /* ReturnValues: "ALL_NEW", "ALL_OLD", ... */
  bool return_old_on_condition_fail; /* ReturnValuesOnConditionCheckFailure ALL_OLD */
} hl_ddb_expr;

int hl_ddb_get_item(hl_buf *out, const char *table, hl_ddb_item key, bool consistent);
int hl_ddb_put_item(hl_buf *out, const char *table, hl_ddb_item item, const hl_ddb_expr *x);
/* x->update is required. */
int hl_ddb_update_item(hl_buf *out, const char *table, hl_ddb_item key, const hl_ddb_expr *x);
int hl_ddb_delete_item(hl_buf *out, const char *table, hl_ddb_item key, const hl_ddb_expr *x);

typedef struct {
  const char *index;          /* IndexName or NULL */
  const char *key_condition;  /* KeyConditionExpression, required */
  const char *filter;         /* FilterExpression or NULL */
  const hl_ddb_name *names;
  size_t n_names;
  const hl_ddb_attr *values;
  size_t n_values;
  int limit;                  /* > 0 to set Limit */
  bool consistent;
  bool descending;            /* ScanIndexForward false */
  /* ExclusiveStartKey: the LastEvaluatedKey object of the previous page as
   * parsed (re-encoded as is), or NULL. */
  const hl_json *start_key;
} hl_ddb_query_args;
int hl_ddb_query(hl_buf *out, const char *table, const hl_ddb_query_args *q);

/* BatchGetItem of 1..HL_DDB_BATCH_GET_MAX distinct keys of one table. The
 * answer's "Responses" holds the items found; "UnprocessedKeys" the keys
 * to ask for again. */
#define HL_DDB_BATCH_GET_MAX 100
int hl_ddb_batch_get(hl_buf *out, const char *table, const hl_ddb_item *keys, size_t n, bool consistent);

/* A whole-table read, a page at a time (for the small configuration tables
 * that are loaded whole at start-up). limit > 0 caps a page's items;
 * start_key as in hl_ddb_query_args. */
int hl_ddb_scan(hl_buf *out, const char *table, bool consistent, int limit, const hl_json *start_key);
/* The same reading only the attributes projection names ("a, b": plain
 * names, none of DynamoDB's reserved words). */
int hl_ddb_scan_projected(hl_buf *out, const char *table, bool consistent, int limit, const hl_json *start_key,
                          const char *projection);

/* One request of a BatchWriteItem: a put of item or a delete of key. */
typedef struct {
  bool del;
  hl_ddb_item item; /* the item (put) or the key (delete) */
} hl_ddb_write_req;
#define HL_DDB_BATCH_MAX 25
/* 1..HL_DDB_BATCH_MAX requests on one table. */
int hl_ddb_batch_write(hl_buf *out, const char *table, const hl_ddb_write_req *reqs, size_t n);
/* Body re-sending a response's UnprocessedItems ({"RequestItems": ...}).
 * Returns the number of requests in it (0: nothing left, nothing appended)
 * or HL_EPARSE when the member is not of that shape. */
int hl_ddb_batch_write_resend(hl_buf *out, const hl_json *response);

typedef struct {
  const char *name;
  char type; /* 'S', 'N' or 'B' */
} hl_ddb_key_def;
typedef struct {
  const char *name;
  hl_ddb_key_def hash, range; /* range.name NULL when absent */
} hl_ddb_gsi;
/* On-demand (PAY_PER_REQUEST) table with an optional sort key and global
 * secondary indexes projecting ALL. */
int hl_ddb_create_table(hl_buf *out, const char *table, hl_ddb_key_def hash, hl_ddb_key_def range,
                        const hl_ddb_gsi *gsis, size_t n_gsis);
/* The same, encrypted at rest under the AWS managed KMS key (kms true). */
int hl_ddb_create_table_sse(hl_buf *out, const char *table, hl_ddb_key_def hash, hl_ddb_key_def range,
                            const hl_ddb_gsi *gsis, size_t n_gsis, bool kms);
/* UpdateContinuousBackups: point-in-time recovery on or off. */
int hl_ddb_update_pitr(hl_buf *out, const char *table, bool enabled);
int hl_ddb_update_ttl(hl_buf *out, const char *table, const char *attribute, bool enabled);
int hl_ddb_describe_table(hl_buf *out, const char *table);

/* --- responses ------------------------------------------------------------ */
/* Typed reads of an item (a JSON object of typed values, as in "Item",
 * "Attributes" or an element of "Items"). Each returns NULL / false when the
 * attribute is absent or of another type. */
const char *hl_ddb_item_s(const hl_json *item, const char *name, size_t *len);
/* The decimal text of an N attribute (not NUL-terminated: use len). */
const char *hl_ddb_item_n(const hl_json *item, const char *name, size_t *len);
/* An N attribute as an int64 when it is an integer in range. */
int hl_ddb_item_i64(const hl_json *item, const char *name, int64_t *out);
bool hl_ddb_item_bool(const hl_json *item, const char *name, bool *out);
/* An S attribute as a new string, or NULL; an N attribute as an int64, 0
 * when absent or not an integer (optional numeric fields). */
char *hl_ddb_item_sdup(const hl_json *item, const char *name);
int64_t hl_ddb_item_i64_or0(const hl_json *item, const char *name);
/* The inner value of an M or L attribute. */
const hl_json *hl_ddb_item_m(const hl_json *item, const char *name);
const hl_json *hl_ddb_item_l(const hl_json *item, const char *name);

#endif
