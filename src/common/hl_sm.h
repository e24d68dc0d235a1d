/* hl_sm.h — hookloop's one state-machine dialect.
 *
 * A machine is an enum of states, a legality table (for each state, a bit
 * mask of the states it may move to: HL_SM_TO(a) | HL_SM_TO(b)) and one
 * transition function per machine, the only place its state changes, which
 * calls hl_sm_check before it does anything else. The delivery in
 * handlers/hl_dispatch.c is the model.
 */
#ifndef HL_SM_H
#define HL_SM_H

#define HL_SM_TO(state) (1u << (state))

/* Aborts, after logging machine and both states by name, when allowed[from]
 * does not include to: an illegal move is a bug, not a runtime condition,
 * and stopping beats running on with corrupted state. */
void hl_sm_check(const char *machine, const unsigned *allowed, const char *const *names, unsigned from,
                 unsigned to);

/* A machine more than one module runs: a value kept fresh in the
 * background (AWS credentials, a Secrets Manager secret). IDLE between
 * reads, FETCHING one, CLOSED for good (a read still under way when it
 * closes finds it so and does nothing). */
typedef enum { HL_FETCH_IDLE, HL_FETCH_FETCHING, HL_FETCH_CLOSED } hl_fetch_state;
/* Its one transition: checks the move (machine names the reader in the
 * abort of an illegal one), then makes it. */
void hl_fetch_transition(const char *machine, hl_fetch_state *state, hl_fetch_state to);

#endif
