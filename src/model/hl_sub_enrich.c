#include "model/hl_sub_enrich.h"
#include "common/hl_common.h"

#include <stdio.h>
#include <string.h>

static const char *const policies[] = {"retry", "deliver_unenriched"};

int hl_sub_enrich_parse(const hl_json *v, char **on_failure, char *ptr, size_t ptr_len, char *why, size_t why_len) {
  *on_failure = NULL;
  if (!v || v->type == HL_JSON_NULL) return 0;
  if (v->type != HL_JSON_OBJECT) {
    snprintf(ptr, ptr_len, "/enrichment");
    snprintf(why, why_len, "expected an object: {\"on_failure\": \"retry\" | \"deliver_unenriched\"}");
    return HL_EINVAL;
  }
  /* Any other member is refused: a typo must not quietly mean the default. */
  for (uint32_t i = 0; i < v->len; i++) {
    const hl_json_member *m = &v->u.members[i];
    if (strcmp(m->key, "on_failure") == 0) continue;
    size_t o = (size_t)snprintf(ptr, ptr_len, "/enrichment/");
    for (uint32_t k = 0; k < m->key_len && o + 3 < ptr_len; k++) { /* RFC 6901: ~ and / escaped */
      if (m->key[k] == '~' || m->key[k] == '/') {
        ptr[o++] = '~';
        ptr[o++] = m->key[k] == '~' ? '0' : '1';
      } else {
        ptr[o++] = m->key[k];
      }
    }
    ptr[o < ptr_len ? o : ptr_len - 1] = '\0';
    snprintf(why, why_len, "unknown member (expected on_failure)");
    return HL_EINVAL;
  }
  const hl_json *p = hl_json_get(v, "on_failure");
  if (!p || p->type == HL_JSON_NULL) return 0;
  const char *s = hl_json_str(p);
  for (size_t i = 0; s && i < HL_ARRAY_SIZE(policies); i++)
    if (strcmp(s, policies[i]) == 0) {
      *on_failure = hl_strdup(s);
      return 0;
    }
  snprintf(ptr, ptr_len, "/enrichment/on_failure");
  snprintf(why, why_len, "expected \"retry\" or \"deliver_unenriched\"");
  return HL_EINVAL;
}

void hl_sub_enrich_write(hl_jw *w, const hl_sub_rec *r) {
  if (!r->enrichment_on_failure) {
    hl_jw_null(w);
    return;
  }
  hl_jw_obj_begin(w);
  hl_jw_key(w, "on_failure");
  hl_jw_str(w, r->enrichment_on_failure);
  hl_jw_obj_end(w);
}

bool hl_sub_enrich_deliver_unenriched(const hl_sub_rec *r, bool process_default) {
  if (!r->enrichment_on_failure) return process_default;
  return strcmp(r->enrichment_on_failure, "deliver_unenriched") == 0;
}
