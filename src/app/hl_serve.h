/* hl_serve.h — `hookloop serve`: the HTTP API, the processor and the
 * dispatcher on one libuv loop (the ECS entrypoint and the local default).
 *
 * Shutdown (SIGTERM/SIGINT): intake stops at once (the listener closes,
 * producer calls get 503), running deliveries finish and their outcomes are
 * recorded, up to drain_timeout_ms; what is still running then is abandoned
 * to the store (delivered again after a restart, with the same webhook-id).
 * A second signal skips the wait. Exit status 0 after a drain.
 */
#ifndef HL_SERVE_H
#define HL_SERVE_H

#include "app/hl_config.h"

/* Runs until a signal stops it; returns the process exit status. */
int hl_serve_run(const hl_config *cfg);

#endif
