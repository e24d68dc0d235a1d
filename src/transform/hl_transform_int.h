/* hl_transform_int.h — the compiled form of a transformation spec, shared by
 * the compiler (hl_transform_compile.c) and the engine (hl_transform.c).
 * Everything here lives in the program's arena or in its copy of the spec,
 * and is read-only once compiled. */
#ifndef HL_TRANSFORM_INT_H
#define HL_TRANSFORM_INT_H

#include "transform/hl_transform.h"

#include <stdbool.h>
#include <stdint.h>

/* One reference token of a JSON pointer, decoded (~1 is '/', ~0 is '~'). */
typedef struct {
  const char *s;
  uint32_t len;
  int32_t index; /* the array index it names; HL_TOK_END for "-"; HL_TOK_KEY for none */
  uint32_t end;  /* offset in the pointer's text just past this token (messages) */
  const char *json; /* the token as a JSON string, quotes included: a new key's text */
  uint32_t json_len;
} hl_tok;

#define HL_TOK_END (-1)
#define HL_TOK_KEY (-2)

typedef struct {
  const char *text; /* the pointer as the spec spells it (decoded JSON string) */
  uint32_t text_len;
  hl_tok *t;
  uint32_t n;
} hl_ptr;

typedef enum { OP_SET, OP_COPY, OP_MOVE, OP_RENAME, OP_REMOVE, OP_PICK, OP_WRAP, OP_TEMPLATE } hl_op_kind;

/* pick: the listed pointers as a trie, so one walk of the event serves all. */
typedef struct hl_pick_node hl_pick_node;
struct hl_pick_node {
  hl_tok k;            /* the token leading here (unused at the root) */
  bool keep;           /* a listed pointer ends here: the whole value stays */
  uint32_t first;      /* index in "paths" of the first pointer through here */
  uint32_t n, cap;
  hl_pick_node *kids;
};

/* template: literal subtrees stay one spec value; only the parts holding
 * pointers are rebuilt per event. */
typedef enum { TPL_LIT, TPL_PTR, TPL_OBJ, TPL_ARR } hl_tpl_kind;
typedef struct hl_tpl hl_tpl;
struct hl_tpl {
  hl_tpl_kind kind;
  const hl_json *lit;          /* LIT: the value; PTR: "$default" or NULL */
  hl_ptr p;                    /* PTR */
  const char *where;           /* PTR: where "$ptr" is in the spec (errors) */
  const hl_json_member *keys;  /* OBJ: the spec's members, for their keys */
  hl_tpl *kids;                /* OBJ, ARR */
  uint32_t n;
};

typedef struct {
  hl_op_kind kind;
  bool missing_error; /* "missing":"error" (else "skip") */
  hl_ptr path, from;
  const hl_json *value; /* set: the value; rename: "to" */
  hl_ptr *paths;        /* pick: the listed pointers, in order */
  hl_pick_node *pick;   /* pick: their trie */
  hl_tpl *tpl;          /* template */
} hl_op;

struct hl_transform {
  char *text;       /* the spec's bytes; the doc's spans point into them */
  size_t text_len;  /* a bound on what the spec can add to an event (output sizing) */
  hl_json_doc doc;  /* values (set, template literals) are written from it */
  hl_arena arena;   /* ops, pointers, tries, templates */
  hl_op *ops;
  uint32_t nops;
  /* References (hl_transform_ref): the one field that changes after
   * compile, and only on the thread that takes and drops them. */
  unsigned refs;
};

#endif
