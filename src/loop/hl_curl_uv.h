/* hl_curl_uv.h — libcurl's multi interface driven by a libuv loop.
 *
 * The only place in hookloop that talks to curl's socket API. A few multi
 * handles ("shards") per loop, each with its own connection cache: libcurl
 * 7.88 scans a cache's whole connection list when a transfer is removed
 * (and its host's list when one starts), so 10,000 connections in one cache
 * make every request cost 10,000 steps. Transfers go to the first shard with
 * room, so light traffic stays on one shard and reuses its connections.
 * curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to call it
 * back (CURLMOPT_TIMERFUNCTION -> one uv_timer_t). Completed transfers are
 * drained from curl_multi_info_read after every action, at most
 * HL_CURL_UV_DRAIN_MAX per loop turn, and handed to their owners.
 *
 * Ownership: the caller owns each easy handle and the hl_curl_xfer it embeds
 * in its own struct (recover the struct with hl_container_of in the done
 * callback). hl_curl_uv_add sets CURLOPT_PRIVATE to the xfer and
 * CURLOPT_CLOSESOCKETFUNCTION/DATA and CURLOPT_SOCKOPTFUNCTION/DATA to its
 * own, so callers must not use those themselves. The done callback runs on
 * the loop, never from inside hl_curl_uv_add; by then the easy handle has been removed
 * from the multi handle and may be reset, re-added or cleaned up.
 */
#ifndef HL_CURL_UV_H
#define HL_CURL_UV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "common/hl_buf.h"

#define HL_CURL_UV_DRAIN_MAX 512

typedef struct hl_curl_xfer hl_curl_xfer;
typedef void (*hl_curl_done_cb)(hl_curl_xfer *x, CURLcode result);

struct hl_curl_xfer {
  CURL *easy;
  hl_curl_done_cb done;
  struct hl_curl_shard *shard; /* the multi handle running it */
};

/* Connections per shard: more shards, not longer lists. Both walks cost a
 * cache miss or two per connection passed, paid on every transfer (at 256
 * per shard ~250 steps, 2-6 us of a delivery at 256 in flight). A shard is
 * a multi handle with its hash tables and closure handle, ~42 KB measured
 * (10,000 held in flight: 161.5 MB RSS with shards of 64, 156.6 MB with
 * 256) and curl's two wakeup fds, made when first used: 128 halves the
 * walks for ~1.7 MB more than 256 at 10,000 in flight, within the memory
 * goal (bench/README.md). serve's default (HOOKLOOP_MAX_IN_FLIGHT 10,000,
 * + 256) allows 81. An HTTP/2 partner gets a connection per shard in use
 * (256 in flight: 2). */
#define HL_CURL_UV_SHARD_CONNS 128
#define HL_CURL_UV_SHARDS_MAX 256

typedef struct hl_curl_shard {
  struct hl_curl_uv *owner;
  CURLM *multi;
  uv_timer_t timer;      /* this multi handle's CURLMOPT_TIMERFUNCTION */
  size_t running;
} hl_curl_shard;

typedef struct hl_curl_uv {
  uv_loop_t *loop;
  hl_curl_shard *shards;
  size_t nshards;
  size_t shard_room;     /* transfers per shard before the next one is used */
  uv_idle_t drain;       /* continues a drain cut off at HL_CURL_UV_DRAIN_MAX */
  size_t running;        /* transfers added and not yet done */
  /* Poll handles by fd, kept (stopped) after curl stops watching a socket:
   * a kept-alive connection is handed back and forth once per transfer, and
   * re-creating its handle would cost an allocation, a non-blocking ioctl
   * and libuv's epoll probe of the fd each time. */
  void **socks;
  size_t nsocks;
  int closing_handles;
  void (*close_cb)(void *data);
  void *close_data;
} hl_curl_uv;

/* Sets up the multi handles and their timers. max_total_conns caps open
 * connections (0: no cap, one shard); connections are kept alive and
 * reused. */
int hl_curl_uv_init(hl_curl_uv *c, uv_loop_t *loop, long max_total_conns);
/* Starts x->easy; x->done runs once when it ends (any result). */
int hl_curl_uv_add(hl_curl_uv *c, hl_curl_xfer *x, CURL *easy, hl_curl_done_cb done);
/* Aborts a transfer that has not completed; its done callback is NOT called.
 * Safe to call for a transfer that already completed (then it does nothing). */
void hl_curl_uv_cancel(hl_curl_uv *c, hl_curl_xfer *x);
/* Number of transfers added and not yet completed. */
size_t hl_curl_uv_running(const hl_curl_uv *c);
/* Tears down: the multi handle first (running transfers are dropped without
 * callbacks; cancel or finish them before), then the uv handles; cb runs
 * once everything is closed, after which c may be freed. */
void hl_curl_uv_close(hl_curl_uv *c, void (*cb)(void *data), void *data);

/* A new easy handle for a call to an API hookloop itself depends on (AWS,
 * the inbox): url (an internationalized host in its ASCII form,
 * loop/hl_curl_host.h), the whole call's and the connect timeouts, redirects not
 * followed, http and https only, no signals, TCP_NODELAY and keep-alive
 * probes, the answer's body and header lines to on_body and on_header (data
 * to both). The caller adds its method, body and headers. NULL when curl has
 * no memory. */
CURL *hl_curl_api_easy(const char *url, long timeout_ms, long connect_timeout_ms, curl_write_callback on_body,
                       curl_write_callback on_header, void *data);

/* A CURLOPT_WRITEFUNCTION body: appends ptr to out while out stays within
 * max bytes; past it sets *too_big and returns 0, which aborts the transfer
 * (an answer too large to be what was asked for is not read to its end). */
size_t hl_curl_capped_append(hl_buf *out, size_t max, bool *too_big, const char *ptr, size_t len);

/* Once per process, before any thread exists. */
int hl_curl_global_init(void);
void hl_curl_global_cleanup(void);
/* The end of a run on a loop of its own (a CLI command, a start that
 * failed, the inbox runner, Lambda's init error): closes c, runs loop until
 * every handle has closed, closes loop and releases curl's global state.
 * Whatever uses c must be closed first. */
void hl_curl_uv_end_run(hl_curl_uv *c, uv_loop_t *loop);

#endif
