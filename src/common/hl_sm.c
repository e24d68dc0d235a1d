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

void hl_fetch_transition(const char *machine, hl_fetch_state *state, hl_fetch_state to) {
  static const char *const names[] = {"IDLE", "FETCHING", "CLOSED"};
  static const unsigned allowed[] = {
    [HL_FETCH_IDLE] = HL_SM_TO(HL_FETCH_FETCHING) | HL_SM_TO(HL_FETCH_CLOSED),
    [HL_FETCH_FETCHING] = HL_SM_TO(HL_FETCH_IDLE) | HL_SM_TO(HL_FETCH_CLOSED),
    [HL_FETCH_CLOSED] = 0,
  };
  hl_sm_check(machine, allowed, names, *state, to);
  *state = to;
}
