#include "common/hl_sm.h"
#include "common/hl_log.h"

#include <stdlib.h>

void hl_sm_check(const char *machine, const unsigned *allowed, const char *const *names, unsigned from,
                 unsigned to) {
  if (allowed[from] & HL_SM_TO(to)) return;
  hl_log_error("illegal state transition", "\"machine\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"", machine, names[from],
               names[to]);
  abort();
}
