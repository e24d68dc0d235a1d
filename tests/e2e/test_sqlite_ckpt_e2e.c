/* The SQLite store's WAL checkpoints on the threadpool (store/hl_sqlite_ckpt.h)
 * in the real `hookloop serve`: a kill -9 in the middle of a drain, with
 * checkpoints running beside the loop's commits, loses no accepted event. */
#include "hl_test.h"
#include "hl_testutil.h"
#include "e2e_util.h"

#include <signal.h>
#include <stdio.h>

static e2e_hookloop hk;
static e2e_partner partner;

#define THREADPOOL_CKPTS "hookloop_sqlite_checkpoints_total{where=\"threadpool\"}"

HL_TEST_T(kill_9_during_a_drain_with_checkpoints_loses_no_accepted_event, 300) {
  e2e_start_both(&hk, &partner, NULL, NULL);
  char url[256];
  /* A slow enough partner that the drain is still going on when the first
   * checkpoints have run (their threshold: 4,000 WAL pages). */
  snprintf(url, sizeof url, "%s/hook/ckpt?latency_ms=5", partner.base);
  free(e2e_setup(&hk, "acme", url, "\"max_in_flight\": 16", NULL, 0));
  enum { N = 6000, BULK = 500 };
  for (int i = 0; i < N; i += BULK) e2e_post_bulk(&hk, "evt-ckpt-", i, BULK);
  /* Kill it once a checkpoint has run on the threadpool, the drain not
   * done: its commits go on while the checkpoints run. */
  long long ckpts = 0;
  int64_t seen = 0;
  for (int waited = 0; waited < 60000; waited += 20) {
    ckpts = e2e_metric(&hk, THREADPOOL_CKPTS);
    seen = e2e_partner_stat(&partner, "unique_ids");
    if (ckpts >= 1 || seen >= N) break;
    hl_sleep_ms(20);
  }
  kill(hk.pid, SIGKILL);
  hl_wait(hk.pid, 5000);
  hk.pid = 0;
  int64_t before = e2e_partner_stat(&partner, "unique_ids");
  printf("kill -9 after %lld threadpool checkpoints, %lld of %d delivered\n", ckpts, (long long)before, N);
  HL_ASSERT_MSG(ckpts >= 1, "no checkpoint ran on the threadpool (metric %lld)", ckpts);
  HL_ASSERT_MSG(before < N, "the drain was over at the kill (%lld of %d)", (long long)before, N);
  e2e_start_hookloop(&hk, NULL); /* same data dir */
  int64_t uniq = 0;
  for (int waited = 0; waited < 120000 && (uniq = e2e_partner_stat(&partner, "unique_ids")) < N; waited += 100)
    hl_sleep_ms(100);
  printf("after restart: %lld unique of %d, %lld requests\n", (long long)uniq, N,
         (long long)e2e_partner_stat(&partner, "requests"));
  HL_ASSERT_EQ_INT(uniq, N);
  e2e_stop_both(&hk, &partner);
}
