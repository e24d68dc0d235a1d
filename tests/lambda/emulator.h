/* emulator.h — a small AWS Lambda Runtime API (2018-06-01) on loopback, for
 * tests: it hands queued events to /runtime/invocation/next (holding the long
 * poll until one is queued) and records what the runtime posts back. Runs
 * its own loop on a thread; the test thread queues and waits. */
#ifndef EMULATOR_H
#define EMULATOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
  char kind[16];      /* "response", "error", "init_error" */
  char id[64];
  char *body;
  char error_type[128];
} emu_result;

int emu_start(void);                   /* returns the port */
/* Queues an event; returns its request id (static buffer). deadline_ms 0: 60 s from now. */
const char *emu_push(const char *event_json, int64_t deadline_ms);
/* Waits for the result of request id (or "init" for an init error); NULL on timeout. */
emu_result *emu_wait(const char *id, int timeout_ms);
void emu_stop(void);
/* The next /next request stops pid (SIGSTOP), as Lambda freezes a sandbox
 * once its runtime asks for the next event; emu_froze() tells it did. */
void emu_freeze_on_next(pid_t pid);
bool emu_froze(void);
/* How many /next requests are held, waiting for an event. */
int emu_waiting(void);
/* Monotonic ns of the first /next request since emu_reset_first_next(), 0 if none yet. */
uint64_t emu_first_next_ns(void);
void emu_reset_first_next(void);

#endif
