/* hl_json.h — an exact JSON reader and a JSON writer.
 *
 * Why our own reader: Debian's JSON libraries (jansson, cJSON, json-c) turn
 * numbers into double/int64, and hookloop must compare numbers by their exact
 * decimal value (filters, JSON Schema: 0.3 is a multiple of 0.1,
 * 12345678901234567890 > 12345678901234567889). This reader keeps every
 * number's source text; hl_decimal.h compares such texts exactly. Partners
 * always get the accepted bytes, never a re-serialisation.
 *
 * Memory: a document owns one arena; every node, string and number text of
 * the document lives in it and is freed by hl_json_doc_dispose. Nodes are
 * immutable after parsing. Arrays and objects store their children
 * contiguously, so iteration is a plain loop.
 *
 * Strings are decoded (escapes resolved, \u surrogate pairs joined into
 * UTF-8), NUL-terminated, and may contain NUL bytes (use len). Input must be
 * valid UTF-8 (RFC 8259); invalid UTF-8, lone surrogates, trailing garbage,
 * leading zeros, NaN/Infinity and control characters in strings are errors.
 * Duplicate member names: hl_json_parse keeps them as parsed (lookup returns
 * the last one, as most JSON implementations do); hl_json_parse_ex with
 * HL_JSON_UNIQUE_NAMES refuses them (I-JSON, RFC 7493 2.3), naming the
 * object and the name, in time linear in the members (a keyed hash). Input
 * from outside is parsed that way: where one reader takes the first of two
 * names and another the last, the routing and the partner disagree.
 *
 * Every parsed value also keeps where it was in the input (src): a string as
 * written, escapes included, and whether a container's text is compact.
 * hl_json_write_src uses it to write a value back exactly as it came (the
 * transformations move values that way). src points into the caller's input
 * text, so it is valid only while that text is, and the document does not
 * keep the text alive.
 */
#ifndef HL_JSON_H
#define HL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"

typedef enum {
  HL_JSON_NULL = 0,
  HL_JSON_FALSE,
  HL_JSON_TRUE,
  HL_JSON_NUMBER,
  HL_JSON_STRING,
  HL_JSON_ARRAY,
  HL_JSON_OBJECT
} hl_json_type;

typedef struct hl_json hl_json;
typedef struct hl_json_member hl_json_member;

struct hl_json {
  hl_json_type type;
  uint32_t len; /* STRING: bytes; NUMBER: text bytes; ARRAY/OBJECT: children */
  union {
    const char *str;          /* STRING: decoded UTF-8; NUMBER: source text */
    hl_json *items;           /* ARRAY */
    hl_json_member *members;  /* OBJECT, in document order */
  } u;
  /* The value's text in the parsed input (no surrounding whitespace; a
   * string with its quotes and escapes as written). NULL for values the
   * parser did not make. Borrowed from the input: see above. */
  const char *src;
  uint32_t src_len;
  bool src_compact; /* src has no whitespace between tokens (always for leaves) */
};

struct hl_json_member {
  const char *key; /* decoded, NUL-terminated */
  uint32_t key_len;
  uint32_t key_src_len;
  const char *key_src; /* the key as written, quotes included (as src above) */
  hl_json value;
};

/* Bump allocator behind a document (also usable on its own). */
typedef struct hl_arena_chunk hl_arena_chunk;
typedef struct {
  hl_arena_chunk *head;
  size_t chunk_size;
} hl_arena;

void hl_arena_init(hl_arena *a, size_t chunk_size); /* allocates nothing */
void *hl_arena_alloc(hl_arena *a, size_t n);        /* 8-byte aligned, aborts on OOM */
char *hl_arena_strndup(hl_arena *a, const char *s, size_t n);
void hl_arena_reset(hl_arena *a);                   /* keeps the first chunk for reuse */
size_t hl_arena_bytes(const hl_arena *a);           /* the bytes its chunks hold */
void hl_arena_dispose(hl_arena *a);
/* Zeroes what was allocated (secrets parsed from an answer), keeping it. */
void hl_arena_wipe(hl_arena *a);

typedef struct {
  hl_arena arena;
  hl_json *root; /* NULL until a successful parse */
  /* How deep containers nest in it: 0 for a scalar, 1 for [1], at most
   * HL_JSON_MAX_DEPTH. A writer that puts parts of the document deeper
   * bounds the result's nesting by it (src/transform). */
  int depth;
} hl_json_doc;

typedef struct {
  size_t offset;       /* byte offset of the error in the input */
  int line, column;    /* 1-based */
  char message[128];   /* e.g. "expected ',' or '}' after object member" */
  /* HL_JSON_UNIQUE_NAMES: set when a name came twice. pointer is the RFC
   * 6901 pointer of the object holding it, name the name (both cut at a
   * UTF-8 boundary when longer). */
  bool duplicate;
  char pointer[384];
  char name[128];
} hl_json_error;

/* hl_json_parse_ex flags. */
#define HL_JSON_UNIQUE_NAMES 1u
/* A string without escapes, and a number's text, point into the input
 * instead of a NUL-terminated copy in the arena (one copy less per leaf and
 * key): such a u.str or key is NOT NUL-terminated, so only a reader that
 * goes by the lengths (len, key_len) and src may use the document, and
 * only while the input lives (hl_json_get and hl_json_pointer compare by
 * length; hl_json_str's result, hl_json_int64 and hl_json_double are not
 * for such documents). The transformations parse events this way
 * (src/transform). */
#define HL_JSON_BORROW 2u

void hl_json_doc_init(hl_json_doc *doc);
/* Parses len bytes (need not be NUL-terminated). Returns 0, or HL_EPARSE with
 * err filled (err may be NULL), or HL_ETOOBIG when nesting exceeds
 * HL_JSON_MAX_DEPTH.
 * A document may be parsed into again after hl_json_doc_reset. */
int hl_json_parse(hl_json_doc *doc, const char *text, size_t len, hl_json_error *err);
/* The same with flags (HL_JSON_UNIQUE_NAMES); a duplicate name is HL_EPARSE
 * with err->duplicate set. */
int hl_json_parse_ex(hl_json_doc *doc, const char *text, size_t len, unsigned flags, hl_json_error *err);
void hl_json_doc_reset(hl_json_doc *doc);
void hl_json_doc_dispose(hl_json_doc *doc);
/* Zeroes the document's memory (its strings may be secrets); dispose after. */
void hl_json_doc_wipe(hl_json_doc *doc);

/* --- access ------------------------------------------------------------ */
/* Object member by key (last one wins), or NULL (also when v is no object). */
const hl_json *hl_json_get(const hl_json *v, const char *key);
const hl_json *hl_json_getn(const hl_json *v, const char *key, size_t key_len);
/* RFC 6901 JSON pointer ("" is v itself; "~0"/"~1" escapes; array indexes
 * without leading zeros). NULL when the pointer does not resolve, which a
 * token of more than HL_JSON_POINTER_TOKEN_MAX bytes (unescaped) never does. */
const hl_json *hl_json_pointer(const hl_json *v, const char *ptr, size_t ptr_len);
#define HL_JSON_POINTER_TOKEN_MAX 511
/* Whether p is an RFC 6901 pointer: "" or "/"-led tokens where '~' is only
 * "~0" or "~1" (for pointers given in configuration, checked once). */
bool hl_json_pointer_valid(const char *p);
/* Returns the string, or NULL when v is NULL or not a string. */
const char *hl_json_str(const hl_json *v);
/* Integer value of a NUMBER that is an integer fitting int64 (also "1.0",
 * "1e2"); returns 0 and sets *out, or HL_EINVAL. */
int hl_json_int64(const hl_json *v, int64_t *out);
/* The number as a double (for non-exact uses such as limits). */
double hl_json_double(const hl_json *v);
bool hl_json_is_bool(const hl_json *v);
/* Deep equality as JSON Schema defines it: numbers by exact decimal value
 * (1 == 1.0 == 1e0), objects regardless of member order. An object that
 * holds a name twice is read as lookups read it (the last one wins), so the
 * relation is reflexive and symmetric on any parsed value. Time linear in
 * the sizes (member names are matched through a keyed hash). */
bool hl_json_equal(const hl_json *a, const hl_json *b);
const char *hl_json_type_name(hl_json_type t); /* "null","boolean","number",... */

/* An index over the names of n members (an object's, or members still being
 * parsed): finds a name's member in expected constant time, through a keyed
 * hash (common/hl_hash.h) so that names sent to collide cannot make it
 * quadratic. A later member of a name shadows an earlier one, as hl_json_get
 * does. Allocates only over more than HL_NAME_INDEX_SMALL members (freed by
 * hl_name_index_dispose). */
#define HL_NAME_INDEX_SMALL 8
typedef struct {
  const hl_json_member *m;
  uint32_t n;
  uint32_t *slots;   /* member index + 1, 0 empty; NULL: n is small, scan */
  uint32_t mask;
  uint32_t distinct; /* number of distinct names */
  int32_t dup;       /* index of the first member whose name came before, or -1 */
} hl_name_index;

void hl_name_index_build(hl_name_index *ix, const hl_json_member *m, uint32_t n);
/* Index of the last member named key, or -1. */
int32_t hl_name_index_find(const hl_name_index *ix, const char *key, size_t len);
void hl_name_index_dispose(hl_name_index *ix);

/* The shortest-form UTF-8 sequence of a Unicode scalar value at s (at
 * most n bytes, n ≥ 1): its length, and its code point into *cp when cp
 * is not NULL; 0 when the bytes start no such sequence. */
size_t hl_utf8_decode(const char *s, size_t n, uint32_t *cp);

/* Appends s[0..n) to out as valid UTF-8 text without NUL bytes: each byte
 * that does not start a valid sequence (or is NUL) becomes U+FFFD. For
 * bytes from elsewhere (a partner's answer) that must be JSON text. */
void hl_utf8_sanitize(hl_buf *out, const char *s, size_t n);

/* --- writing ------------------------------------------------------------- */
/* A streaming writer into an hl_buf that places commas and colons itself.
 * Nesting is tracked up to HL_JSON_MAX_DEPTH levels, the reader's limit, so
 * every parsed document can be written back (hl_jw_value). Strings are
 * escaped as RFC 8259 requires; UTF-8 is copied through, and a byte that
 * starts no valid UTF-8 sequence becomes U+FFFD, so the writer's output is
 * always JSON text whatever bytes it is given (hl_json_escape too). */
#define HL_JSON_MAX_DEPTH 512
typedef struct {
  hl_buf *out;
  int depth;
  uint64_t need_comma[HL_JSON_MAX_DEPTH / 64 + 1]; /* one bit per level */
  bool after_key;
} hl_jw;

void hl_jw_init(hl_jw *w, hl_buf *out);
void hl_jw_obj_begin(hl_jw *w);
void hl_jw_obj_end(hl_jw *w);
void hl_jw_arr_begin(hl_jw *w);
void hl_jw_arr_end(hl_jw *w);
void hl_jw_key(hl_jw *w, const char *key);
void hl_jw_keyn(hl_jw *w, const char *key, size_t n);
/* The openings every answer and request body repeats: a document that is an
 * object (hl_jw_init + hl_jw_obj_begin), and a member whose value is an
 * object or an array (hl_jw_key + hl_jw_obj_begin / hl_jw_arr_begin). */
void hl_jw_open(hl_jw *w, hl_buf *out);
void hl_jw_key_obj(hl_jw *w, const char *key);
void hl_jw_key_arr(hl_jw *w, const char *key);
/* A member with a string, integer or boolean value (key + value). */
void hl_jw_key_str(hl_jw *w, const char *key, const char *s);
void hl_jw_key_int(hl_jw *w, const char *key, int64_t v);
void hl_jw_key_bool(hl_jw *w, const char *key, bool v);
void hl_jw_str(hl_jw *w, const char *s);
void hl_jw_strn(hl_jw *w, const char *s, size_t n);
void hl_jw_int(hl_jw *w, int64_t v);
void hl_jw_double(hl_jw *w, double v);       /* shortest round-trip text */
void hl_jw_bool(hl_jw *w, bool v);
void hl_jw_null(hl_jw *w);
void hl_jw_raw(hl_jw *w, const char *json, size_t n); /* a pre-encoded value */
void hl_jw_value(hl_jw *w, const hl_json *v);         /* re-encodes a parsed value */
/* hookloop's one error envelope: the members "error" (code), "message" and
 * "details" (details: a pre-encoded JSON array of {"path": JSON pointer,
 * ...} objects, details_len bytes; NULL for []) written into the object w
 * has open, so an answer may add members of its own. Every error answer,
 * the HTTP transport's own included, is written by these two. */
void hl_jw_error_members(hl_jw *w, const char *code, const char *message, const char *details,
                         size_t details_len);
/* The whole envelope {"error","message","details"} appended to out. */
void hl_json_error_body(hl_buf *out, const char *code, const char *message, const char *details,
                        size_t details_len);
/* Appends v to out as compact JSON whose every string, number and key is its
 * source text (escapes and number spelling as written; see src above): a
 * compact container is copied in one piece, any other one is rebuilt without
 * its whitespace. Values without src are encoded as hl_jw_value does. */
void hl_json_write_src(hl_buf *out, const hl_json *v);
/* Appends s as the inside of a JSON string (no quotes) to out; bytes that
 * are not UTF-8 become U+FFFD, as in the writer. */
void hl_json_escape(hl_buf *out, const char *s, size_t n);
/* Writes a member name: its source text (quotes and escapes as they came)
 * when it has one, so a value written back keeps its bytes; else the name
 * quoted and escaped. */
void hl_json_write_key(hl_buf *out, const char *key_src, size_t key_src_len, const char *key, size_t key_len);
/* Appends "/" and the RFC 6901 reference token for key (~ as ~0, / as ~1):
 * builds a JSON pointer one member at a time. */
void hl_json_pointer_append(hl_buf *out, const char *key, size_t n);

#endif
