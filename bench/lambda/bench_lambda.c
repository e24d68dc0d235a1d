/* Lambda figures: init time (process start -> first /next request) and a
 * 100-record MSK batch against a 50 ms partner, against the Runtime API
 * emulator on loopback. Prints the median of several runs and peak RSS. */
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "crypto/hl_crypto.h"
#include "emulator.h"
#include "json/hl_json.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static char *apigw(const char *method, const char *path, const char *body) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_printf(&b, "{\"version\":\"2.0\",\"rawPath\":\"%s\",\"rawQueryString\":\"\",\"headers\":{},"
                    "\"requestContext\":{\"http\":{\"method\":\"%s\",\"path\":\"%s\"}}", path, method, path);
  if (body) {
    hl_buf_puts(&b, ",\"body\":\"");
    hl_json_escape(&b, body, strlen(body));
    hl_buf_puts(&b, "\"");
  }
  hl_buf_puts(&b, ",\"isBase64Encoded\":false}");
  return hl_buf_steal(&b, NULL);
}

static char *batch(const char *sub_id, int n, int first) {
  hl_buf b = HL_BUF_INIT;
  hl_buf_puts(&b, "{\"eventSource\":\"aws:kafka\",\"records\":{\"wh.egress.acme.Payment-0\":[");
  for (int i = 0; i < n; i++) {
    char id[32], value[1100];
    snprintf(id, sizeof id, "bench-%d", first + i);
    int len = snprintf(value, sizeof value, "{\"eventHeader\":{\"uuid\":\"%s\",\"eventType\":\"Payment\"},\"pad\":\"", id);
    while (len < 1000) value[len++] = 'x';
    len += snprintf(value + len, sizeof value - (size_t)len, "\"}");
    hl_buf_printf(&b, "%s{\"topic\":\"wh.egress.acme.Payment\",\"partition\":0,\"offset\":%d,\"key\":\"", i ? "," : "", first + i);
    hl_base64_encode(&b, (const uint8_t *)id, strlen(id));
    hl_buf_puts(&b, "\",\"value\":\"");
    hl_base64_encode(&b, (const uint8_t *)value, (size_t)len);
    hl_buf_puts(&b, "\",\"headers\":[{\"subscription_id\":[");
    for (const char *c = sub_id; *c; c++) hl_buf_printf(&b, "%s%d", c == sub_id ? "" : ",", *c);
    hl_buf_puts(&b, "]}]}");
  }
  hl_buf_puts(&b, "]}}");
  return hl_buf_steal(&b, NULL);
}

static long vm_hwm_kb(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", pid);
  FILE *f = fopen(path, "r");
  long kb = -1;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kb = atol(line + 6);
  if (f) fclose(f);
  return kb;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 5;
  if (runs < 1 || runs > 50) runs = 5;
  /* With HL_BENCH_DYNAMODB_ENDPOINT (a DynamoDB-compatible server whose
   * tables exist, e.g. dynalite after `hookloop tables create`), the
   * runtime uses the DynamoDB store, as deployed; else SQLite in /tmp. */
  const char *ddb = getenv("HL_BENCH_DYNAMODB_ENDPOINT");
  static char ddb_env[256];
  if (ddb) snprintf(ddb_env, sizeof ddb_env, "DYNAMODB_ENDPOINT=%s", ddb);
  int port = emu_start();
  char partner_bin[600], hookloop_bin[600];
  snprintf(partner_bin, sizeof partner_bin, "%s/tools/mock_partner/hl_mock_partner", HL_BINARY_DIR);
  snprintf(hookloop_bin, sizeof hookloop_bin, "%s/hookloop", HL_BINARY_DIR);
  int pport = 19000 + getpid() % 1000;
  char plisten[64];
  snprintf(plisten, sizeof plisten, "127.0.0.1:%d", pport);
  pid_t partner = fork();
  if (partner == 0) {
    execl(partner_bin, partner_bin, "--listen", plisten, "--latency-ms", "50", "--no-record", (char *)NULL);
    _exit(127);
  }
  usleep(300000);
  uint64_t init_ns[50], batch_ns[50];
  long rss = 0;
  for (int r = 0; r < runs; r++) {
    char dir[] = "/tmp/hookloop-bench-lambda-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char api[64], data[128];
    snprintf(api, sizeof api, "AWS_LAMBDA_RUNTIME_API=127.0.0.1:%d", port);
    snprintf(data, sizeof data, "HOOKLOOP_DATA_DIR=%s", dir);
    emu_reset_first_next();
    uint64_t t0 = hl_mono_ns();
    pid_t pid = fork();
    if (pid == 0) {
      putenv(api);
      putenv(data);
      putenv((char *)"HOOKLOOP_ALLOW_PRIVATE_TARGETS=1");
      putenv((char *)"LOG_LEVEL=error");
      if (ddb) {
        putenv((char *)"HOOKLOOP_STORE=dynamodb");
        putenv(ddb_env);
        putenv((char *)"AWS_REGION=us-east-1");
        putenv((char *)"AWS_ACCESS_KEY_ID=AKIDBENCH");
        putenv((char *)"AWS_SECRET_ACCESS_KEY=bench-secret");
      }
      int devnull = open("/dev/null", 1);
      dup2(devnull, 1);
      execl(hookloop_bin, "bootstrap", "lambda", (char *)NULL);
      _exit(127);
    }
    while (emu_first_next_ns() == 0 && hl_mono_ns() - t0 < 5000000000ull) usleep(100);
    init_ns[r] = emu_first_next_ns() - t0;
    char *e = apigw("POST", "/admin/schemas", "{\"event_type\":\"Payment\",\"domain\":\"p\",\"schema\":true}");
    emu_wait(emu_push(e, 0), 10000);
    free(e);
    char sub[256];
    snprintf(sub, sizeof sub, "{\"partner_id\":\"acme\",\"event_type\":\"Payment\",\"url\":\"http://%s/hook/acme\"}", plisten);
    e = apigw("POST", "/admin/subscriptions", sub);
    emu_result *res = emu_wait(emu_push(e, 0), 10000);
    free(e);
    const char *p = res ? strstr(res->body, "sub_") : NULL;
    char sub_id[64] = "";
    if (p) snprintf(sub_id, sizeof sub_id, "%.26s", p);
    char *b = batch(sub_id, 100, r * 1000);
    uint64_t t1 = hl_mono_ns();
    emu_wait(emu_push(b, 0), 30000);
    batch_ns[r] = hl_mono_ns() - t1;
    free(b);
    long kb = vm_hwm_kb(pid);
    if (kb > rss) rss = kb;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) {}
  }
  qsort(init_ns, (size_t)runs, sizeof *init_ns, cmp_u64);
  qsort(batch_ns, (size_t)runs, sizeof *batch_ns, cmp_u64);
  printf("store: %s\n\n", ddb ? "dynamodb (local DynamoDB-compatible server)" : "sqlite");
  printf("| figure | median of %d | min | max | target |\n|---|---|---|---|---|\n", runs);
  printf("| init (start -> first /next) | %.1f ms | %.1f ms | %.1f ms | <= 20 ms |\n", init_ns[runs / 2] / 1e6,
         init_ns[0] / 1e6, init_ns[runs - 1] / 1e6);
  printf("| 100-record batch, 50 ms partner | %.1f ms | %.1f ms | %.1f ms | <= 100 ms |\n", batch_ns[runs / 2] / 1e6,
         batch_ns[0] / 1e6, batch_ns[runs - 1] / 1e6);
  printf("| peak RSS of the runtime | %.1f MB | | | |\n", rss / 1024.0);
  kill(partner, SIGTERM);
  waitpid(partner, NULL, 0);
  emu_stop();
  return 0;
}
