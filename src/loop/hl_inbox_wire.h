/* hl_inbox_wire.h — the inbox protocol's messages (docs/inbox.md): the
 * URLs of its three requests, the token answer and the pages of events.
 *
 * Nothing here does I/O; loop/hl_inbox_client sends and receives.
 *
 * Payloads are kept as their exact bytes. A page is parsed with the exact
 * JSON reader (src/json), which checks the whole answer, and each event's
 * payload is its value's source text in the answer (hl_json's src): what a
 * partner gets is what the inbox served, byte for byte — 100.10 stays
 * 100.10, "\u00e9" stays six characters, whitespace and member order stay —
 * never a re-serialisation.
 *
 * Member names that come twice: in the answer's envelope ("events",
 * "next") they make the page unreadable; inside an event (its id, its
 * payload, at any depth) they make that event one that two readers could
 * read two ways, so it is skipped and left pending for review, like the
 * producer API refuses such events (src/json, HL_JSON_UNIQUE_NAMES).
 */
#ifndef HL_INBOX_WIRE_H
#define HL_INBOX_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hl_buf.h"
#include "json/hl_json.h"

#define HL_INBOX_ID_MAX 512 /* bytes of an event id; longer ones are skipped */

/* --- URLs -------------------------------------------------------------------- */
/* True for "http://" or "https://" followed by a host. */
bool hl_inbox_is_http_url(const char *url);
/* base (e.g. "https://api.example.com/v1", a trailing '/' or not) joined
 * with path ("/inbox"), appended to out. */
void hl_inbox_url(hl_buf *out, const char *base, const char *path);
/* {base}{inbox_path}?status=pending&limit=N[&cursor=<cursor, percent-encoded>] */
void hl_inbox_fetch_url(hl_buf *out, const char *base, const char *inbox_path, unsigned limit, const char *cursor);
/* {base}{ack_path}, where "{id}" in ack_path is replaced by the id,
 * percent-encoded as a path segment (RFC 3986: all but A-Z a-z 0-9 - . _ ~,
 * so "a/b" cannot reach another route). Returns 0, or HL_EINVAL when
 * ack_path has no "{id}". */
int hl_inbox_ack_url(hl_buf *out, const char *base, const char *ack_path, const char *id, size_t id_len);

/* --- the token answer ---------------------------------------------------------- */
/* Parses {"access_token": "...", "expires_in": seconds} (token_type and
 * other members are ignored). *token gets a malloc'd copy (the caller wipes
 * and frees it); *expires_in_s the lifetime, or -1 when the answer gives
 * none. Returns 0, or HL_EPARSE with why in err (never the token itself):
 * not an object, no access_token string, a token with characters that
 * cannot go into an Authorization header (controls, spaces, non-ASCII), an
 * expires_in that is not a non-negative number. */
int hl_inbox_token_parse(const char *body, size_t len, char **token, int64_t *expires_in_s, char *err, size_t errlen);

/* --- pages --------------------------------------------------------------------- */
typedef struct {
  const char *id;      /* decoded, NUL-terminated; points into the page */
  size_t id_len;
  const char *payload; /* the payload's exact text in the answer (not NUL-terminated) */
  size_t payload_len;
} hl_inbox_event;

typedef struct {
  hl_inbox_event *events;
  size_t n;
  const char *next;    /* the cursor of the next page; NULL when the inbox said null, "" or nothing */
  /* Events the page held that cannot be handled (no usable id, no payload,
   * a member name twice): they are left pending for review; their positions
   * and ids (when they have one) were logged by the parser. */
  size_t skipped;
  /* The answer itself (payloads point into it) and its parsed form (ids). */
  char *body;
  size_t body_len;
  hl_json_doc doc;
} hl_inbox_page;

/* Parses a GET {inbox} answer into a new page, taking body (malloc'd with
 * hl_malloc; freed on error too). Returns the page, or NULL with *rc set to
 * HL_EPARSE and why in err (with a JSON pointer): not JSON, no "events"
 * array, a "next" that is neither a string, a number nor null, "events" or
 * "next" named twice. */
hl_inbox_page *hl_inbox_page_parse(char *body, size_t len, int *rc, char *err, size_t errlen);
/* Keeps, in order, the events [i] for which keep(data, event) is true, up to
 * max_keep of them, calling keep for at most max_look events; drops the
 * rest unlooked at, so that what a page costs the loop is bounded by what
 * its reader wants, not by what the inbox sent. Returns how many were
 * dropped unlooked at. */
size_t hl_inbox_page_filter(hl_inbox_page *p, size_t max_keep, size_t max_look,
                            bool (*keep)(void *data, const hl_inbox_event *e), void *data);
void hl_inbox_page_free(hl_inbox_page *p);

#endif
