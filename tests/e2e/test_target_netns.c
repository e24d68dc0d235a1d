/* The guard against private targets (HOOKLOOP_ALLOW_PRIVATE_TARGETS unset)
 * with a partner on an address it allows, which loopback is not: the test
 * runs in a network namespace of its own, whose only interface is its
 * loopback, with a global unicast address added there, so no packet can
 * leave it. A mount namespace of its own gives it an /etc/hosts that names
 * the partner. Needs root (CAP_SYS_ADMIN); skipped without it. */
#include "e2e_util.h"
#include "hl_test.h"
#include "hl_testutil.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

/* Any address outside the IANA special-purpose blocks will do: it exists
 * only on this namespace's loopback. */
#define ALLOWED_ADDR "1.2.3.4"
#define PRIVATE_ADDR "127.0.0.2"

static e2e_hookloop hk;
static e2e_partner partner;

static int set_addr(int fd, unsigned long req, const char *ifname, const char *addr) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) return -1;
  return ioctl(fd, req, &ifr);
}

/* Enters new network and mount namespaces: loopback up, ALLOWED_ADDR/32
 * on it, and /etc/hosts replaced (in this mount namespace only) by
 * hosts_text. NULL, or why the test cannot run here. */
static const char *enter_own_network(const char *hosts_text) {
  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) return "no network namespace of its own (needs CAP_SYS_ADMIN)";
  /* Private first, so the bind mount below never reaches the host's tree. */
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return "cannot make its mount namespace private";
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  HL_ASSERT(fd >= 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "lo");
  HL_ASSERT(ioctl(fd, SIOCGIFFLAGS, &ifr) == 0);
  ifr.ifr_flags |= IFF_UP;
  HL_ASSERT(ioctl(fd, SIOCSIFFLAGS, &ifr) == 0);
  HL_ASSERT(set_addr(fd, SIOCSIFADDR, "lo:1", ALLOWED_ADDR) == 0);
  HL_ASSERT(set_addr(fd, SIOCSIFNETMASK, "lo:1", "255.255.255.255") == 0);
  close(fd);
  char hosts[600];
  snprintf(hosts, sizeof hosts, "%s/hosts", hl_tmp_base());
  FILE *f = fopen(hosts, "w");
  HL_ASSERT(f != NULL);
  fputs(hosts_text, f);
  fclose(f);
  if (mount(hosts, "/etc/hosts", NULL, MS_BIND, NULL) != 0) return "cannot bind its own /etc/hosts";
  return NULL;
}

/* The IPv4 addresses name resolves to, in the order getaddrinfo gives them
 * (the order libcurl tries them in), joined by spaces. */
static void resolve(const char *name, char *out, size_t cap) {
  struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res = NULL;
  out[0] = '\0';
  if (getaddrinfo(name, NULL, &hints, &res) != 0) return;
  size_t len = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)a->ai_addr)->sin_addr, ip, sizeof ip);
    len += (size_t)snprintf(out + len, cap - len, "%s%s", len ? " " : "", ip);
    if (len >= cap) break;
  }
  freeaddrinfo(res);
}

/* A host name with a private address and an allowed one: libcurl tries the
 * private one first (getaddrinfo puts the smaller scope first, RFC 6724
 * rule 8), the guard refuses it, and the allowed one is connected to. What
 * that partner answers is the attempt's outcome: a 503 is retried like any
 * other. The private-address verdict, failed for good, is for a name that
 * left nothing to connect to, as the second name shows here. Before, the
 * first 503 failed the delivery for good as "resolves to a private
 * address". */
HL_TEST_T(a_name_with_a_private_and_an_allowed_address_is_judged_by_what_the_allowed_one_answers, 120) {
  const char *why = enter_own_network(PRIVATE_ADDR " partner.test\n" ALLOWED_ADDR " partner.test\n"
                                      PRIVATE_ADDR " private-only.test\n");
  if (why) HL_SKIP("%s", why);
  char got[128];
  resolve("partner.test", got, sizeof got);
  if (strcmp(got, PRIVATE_ADDR " " ALLOWED_ADDR) != 0)
    HL_SKIP("partner.test resolves to \"%s\" here, not to the namespace's /etc/hosts in order", got);

  e2e_start_partner_at(&partner, ALLOWED_ADDR, NULL);
  const char *unset[] = {"HOOKLOOP_ALLOW_PRIVATE_TARGETS", NULL}; /* no '=': removed from its environment */
  e2e_start_hookloop(&hk, unset);
  char url[256];
  snprintf(url, sizeof url, "http://partner.test:%d/hook/both?codes=503,200", partner.port);
  free(e2e_setup(&hk, "acme", url, NULL, NULL, 0));
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-both", "10"), 202);
  HL_ASSERT_MSG(e2e_wait_status(&hk, "evt-both", "SUCCESS", 10000), "evt-both was not delivered");
  char err[512];
  int64_t attempts = 0;
  e2e_delivery_error(&hk, "evt-both", err, sizeof err, &attempts);
  HL_ASSERT_EQ_INT(attempts, 2);
  HL_ASSERT_MSG(strstr(err, "private address") == NULL, "last_error: %s", err);
  hl_json_doc doc;
  HL_ASSERT_EQ_INT(e2e_wait_requests(&partner, "both", 2, 5000, &doc), 2);
  hl_json_doc_dispose(&doc);

  /* The guard is on for these names: one with only the private address is
   * failed for good, and nothing is sent. */
  snprintf(url, sizeof url, "http://private-only.test:%d/hook/priv", partner.port);
  char u[256], body[512];
  snprintf(u, sizeof u, "%s/admin/subscriptions", hk.base);
  snprintf(body, sizeof body, "{\"partner_id\":\"solo\",\"event_type\":\"Payment\",\"url\":\"%s\"}", url);
  HL_ASSERT_EQ_INT(e2e_call("POST", u, body, &doc), 201);
  char sub[128];
  snprintf(sub, sizeof sub, "%s", e2e_json_str(doc.root, "subscription_id"));
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_post_event(&hk, "evt-priv", "10"), 202);
  char st[32] = "";
  for (int i = 0; i < 500 && strcmp(st, "FAILED") != 0; i++) {
    if (i) hl_sleep_ms(20);
    e2e_delivery_to(&hk, "evt-priv", sub, st, sizeof st, &attempts);
  }
  HL_ASSERT_EQ_STR(st, "FAILED");
  HL_ASSERT_EQ_INT(attempts, 1);
  snprintf(u, sizeof u, "%s/admin/deliveries?event_id=evt-priv", hk.base);
  HL_ASSERT_EQ_INT(e2e_call("GET", u, NULL, &doc), 200);
  const hl_json *d = hl_json_get(doc.root, "deliveries");
  const char *last = NULL;
  for (uint32_t i = 0; d && d->type == HL_JSON_ARRAY && i < d->len; i++)
    if (strcmp(e2e_json_str(&d->u.items[i], "subscription_id"), sub) == 0)
      last = e2e_json_str(&d->u.items[i], "last_error");
  HL_ASSERT_MSG(last && strstr(last, "private address"), "last_error: %s", last ? last : "(none)");
  hl_json_doc_dispose(&doc);
  HL_ASSERT_EQ_INT(e2e_requests_so_far(&partner, "priv"), 0);
  e2e_stop_both(&hk, &partner);
}
