/* hl_event_id.h — what an event id may be, wherever it comes from (the
 * producer API's body or headers, an egress record's key or event_id
 * header): 1 to 200 printable ASCII characters, no space. It travels as
 * the webhook-id header and inside keys and file names, so a control
 * character (CR, LF: a header of the sender's choosing) or a space never
 * gets that far. */
#ifndef HL_EVENT_ID_H
#define HL_EVENT_ID_H

#include <stdbool.h>
#include <stddef.h>

#define HL_EVENT_ID_MAX 200

static inline bool hl_event_id_ok(const char *s, size_t len) {
  if (len == 0 || len > HL_EVENT_ID_MAX) return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e) return false;
  return true;
}

#endif
