#include "hl_test.h"
#include "loop/hl_kafka_offsets.h"

#include <stdlib.h>

HL_TEST(commits_only_the_finished_prefix) {
  hl_kafka_offsets o;
  hl_kafka_offsets_init(&o);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), -1);
  for (int64_t i = 100; i < 110; i++) hl_kafka_offsets_take(&o, i);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 100);
  hl_kafka_offsets_done(&o, 103);
  hl_kafka_offsets_done(&o, 101);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 100); /* 100 still running */
  hl_kafka_offsets_done(&o, 100);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 102);
  hl_kafka_offsets_done(&o, 102);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 104);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_pending(&o), 6);
  for (int64_t i = 109; i >= 104; i--) hl_kafka_offsets_done(&o, i);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 110);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_pending(&o), 0);
  hl_kafka_offsets_dispose(&o);
}

HL_TEST(random_order_over_a_growing_window) {
  hl_kafka_offsets o;
  hl_kafka_offsets_init(&o);
  enum { N = 5000 };
  int64_t *order = malloc(N * sizeof *order);
  for (int64_t i = 0; i < N; i++) order[i] = i;
  srand(3);
  for (int i = N - 1; i > 0; i--) { int j = rand() % (i + 1); int64_t t = order[i]; order[i] = order[j]; order[j] = t; }
  for (int64_t i = 0; i < N; i++) hl_kafka_offsets_take(&o, i);
  int64_t lowest_open = 0;
  char *finished = calloc(N, 1);
  for (int i = 0; i < N; i++) {
    hl_kafka_offsets_done(&o, order[i]);
    finished[order[i]] = 1;
    while (lowest_open < N && finished[lowest_open]) lowest_open++;
    HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), lowest_open);
  }
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), N);
  free(order);
  free(finished);
  hl_kafka_offsets_dispose(&o);
}

HL_TEST(gaps_count_as_done_and_reset_forgets) {
  hl_kafka_offsets o;
  hl_kafka_offsets_init(&o);
  hl_kafka_offsets_take(&o, 10);
  hl_kafka_offsets_take(&o, 15); /* 11..14 were compacted away */
  hl_kafka_offsets_done(&o, 10);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 15);
  hl_kafka_offsets_reset(&o);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), -1);
  hl_kafka_offsets_take(&o, 12);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 12);
  hl_kafka_offsets_dispose(&o);
}

HL_TEST(a_released_offset_is_taken_again_and_nothing_else_is) {
  hl_kafka_offsets o;
  hl_kafka_offsets_init(&o);
  for (int64_t i = 0; i < 6; i++) HL_ASSERT(hl_kafka_offsets_take(&o, i));
  hl_kafka_offsets_done(&o, 0);
  hl_kafka_offsets_done(&o, 3);
  hl_kafka_offsets_release(&o, 2);
  hl_kafka_offsets_release(&o, 4);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 1); /* released is not done */
  HL_ASSERT_EQ_INT(hl_kafka_offsets_pending(&o), 4);
  /* A rewind to 0 brings 0..5 again: only the released ones are handed out. */
  HL_ASSERT(!hl_kafka_offsets_take(&o, 0));  /* done, committable past it */
  HL_ASSERT(!hl_kafka_offsets_take(&o, 1));  /* still running */
  HL_ASSERT(hl_kafka_offsets_take(&o, 2));
  HL_ASSERT(!hl_kafka_offsets_take(&o, 3));  /* done */
  HL_ASSERT(hl_kafka_offsets_take(&o, 4));
  HL_ASSERT(!hl_kafka_offsets_take(&o, 5));
  HL_ASSERT(!hl_kafka_offsets_take(&o, 2));  /* taken again already */
  HL_ASSERT(hl_kafka_offsets_take(&o, 6));   /* new */
  for (int64_t i = 1; i <= 6; i++) if (i != 3) hl_kafka_offsets_done(&o, i);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_committable(&o), 7);
  HL_ASSERT_EQ_INT(hl_kafka_offsets_pending(&o), 0);
  hl_kafka_offsets_dispose(&o);
}
