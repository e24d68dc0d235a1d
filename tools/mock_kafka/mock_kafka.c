/* hl_mock_kafka — a Kafka test broker: librdkafka's mock cluster (the real
 * Kafka protocol over TCP, consumer groups included) in its own process.
 *
 *   hl_mock_kafka [--brokers N]
 *
 * Prints "bootstrap HOST:PORT,..." on one line, then reads commands from
 * stdin, one per line, answering "ok" or "error <text>":
 *   down <broker_id> | up <broker_id> | rtt <broker_id> <ms>
 *   create <topic> <partitions> <replication>
 *   leader <topic> <partition> <broker_id>   (where that partition is fetched from)
 *   coordinator <group> <broker_id>          (where that group commits and heartbeats)
 *   error <apikey> <count> <errcode>      (the next <count> requests of that API fail)
 *   quit
 * It exits on stdin EOF, SIGTERM or SIGINT. The mock brokers listen on
 * 127.0.0.1 only. Topics are created on first use (auto-create), with
 * 4 partitions unless created explicitly.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

int main(int argc, char **argv) {
  int brokers = 3;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc) brokers = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: hl_mock_kafka [--brokers N]\n");
      return 2;
    }
  }
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* A handle only to own the mock cluster; it never connects anywhere. */
  rd_kafka_conf_set(conf, "bootstrap.servers", "", err, sizeof err);
  rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    fprintf(stderr, "hl_mock_kafka: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "hl_mock_kafka: could not create the mock cluster\n");
    return 1;
  }
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));
  fflush(stdout);
  char line[1024];
  while (!stop && fgets(line, sizeof line, stdin)) {
    char cmd[32] = "", a[256] = "";
    int b = 0, c = 0;
    int n = sscanf(line, "%31s %255s %d %d", cmd, a, &b, &c);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (n < 1) continue;
    if (strcmp(cmd, "quit") == 0) break;
    if (strcmp(cmd, "down") == 0 && n >= 2) e = rd_kafka_mock_broker_set_down(mc, atoi(a));
    else if (strcmp(cmd, "up") == 0 && n >= 2) e = rd_kafka_mock_broker_set_up(mc, atoi(a));
    else if (strcmp(cmd, "rtt") == 0 && n >= 3) e = rd_kafka_mock_broker_set_rtt(mc, atoi(a), b);
    else if (strcmp(cmd, "create") == 0 && n >= 4) e = rd_kafka_mock_topic_create(mc, a, b, c);
    /* "leader <topic> <partition> <broker>", "coordinator <group> <broker>": where a
     * partition's fetches and a group's commits and heartbeats go. */
    else if (strcmp(cmd, "leader") == 0 && n >= 4) e = rd_kafka_mock_partition_set_leader(mc, a, b, c);
    else if (strcmp(cmd, "coordinator") == 0 && n >= 3) e = rd_kafka_mock_coordinator_set(mc, "group", a, b);
    else if (strcmp(cmd, "error") == 0 && n >= 4) {
      rd_kafka_resp_err_t errs[64];
      int cnt = b > 64 ? 64 : b;
      for (int i = 0; i < cnt; i++) errs[i] = (rd_kafka_resp_err_t)c;
      rd_kafka_mock_push_request_errors_array(mc, (int16_t)atoi(a), (size_t)cnt, errs);
    } else {
      printf("error unknown command: %s", line);
      fflush(stdout);
      continue;
    }
    if (e) printf("error %s\n", rd_kafka_err2str(e));
    else printf("ok\n");
    fflush(stdout);
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
