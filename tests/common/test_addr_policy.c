/* The address policy against the IANA special-purpose address registries:
 * every block, at its first and last address and one address outside each
 * edge. The blocks are written here from the registries
 * (https://www.iana.org/assignments/iana-ipv4-special-registry/,
 * https://www.iana.org/assignments/iana-ipv6-special-registry/), as CIDR
 * text, independently of the module's own table; what lies just outside
 * each edge is stated by hand. */
#include "hl_test.h"
#include "common/hl_addr_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* 'R' refused, 'A' allowed, '-' no address there (the edge of the space). */
typedef struct {
  const char *cidr;
  char below, above;
} block;

static const block v4[] = {
  {"0.0.0.0/8", '-', 'A'},
  {"0.0.0.0/32", '-', 'R'},
  {"10.0.0.0/8", 'A', 'A'},
  {"100.64.0.0/10", 'A', 'A'},
  {"127.0.0.0/8", 'A', 'A'},
  {"169.254.0.0/16", 'A', 'A'},
  {"172.16.0.0/12", 'A', 'A'},
  {"192.0.0.0/24", 'A', 'A'},
  {"192.0.0.0/29", 'A', 'R'},
  {"192.0.0.8/32", 'R', 'R'},
  {"192.0.0.9/32", 'R', 'R'},
  {"192.0.0.10/32", 'R', 'R'},
  {"192.0.0.170/32", 'R', 'R'},
  {"192.0.0.171/32", 'R', 'R'},
  {"192.0.2.0/24", 'A', 'A'},
  {"192.31.196.0/24", 'A', 'A'},
  {"192.52.193.0/24", 'A', 'A'},
  {"192.88.99.0/24", 'A', 'A'},
  {"192.168.0.0/16", 'A', 'A'},
  {"192.175.48.0/24", 'A', 'A'},
  {"198.18.0.0/15", 'A', 'A'},
  {"198.51.100.0/24", 'A', 'A'},
  {"203.0.113.0/24", 'A', 'A'},
  {"224.0.0.0/4", 'A', 'R'}, /* multicast (the IPv4 multicast registry) */
  {"240.0.0.0/4", 'R', '-'},
  {"255.255.255.255/32", 'R', '-'},
};

static const block v6[] = {
  {"::1/128", 'R', 'R'},
  {"::/128", '-', 'R'},
  {"::ffff:0:0/96", 'R', 'R'},
  {"::/96", '-', 'R'}, /* IPv4-compatible, deprecated (RFC 4291) */
  {"64:ff9b::/96", 'R', 'R'},
  {"64:ff9b:1::/48", 'R', 'R'},
  {"100::/64", 'R', 'R'},
  {"100:0:0:1::/64", 'R', 'R'},
  {"2001::/23", 'A', 'A'},
  {"2001::/32", 'A', 'R'},
  {"2001:1::1/128", 'R', 'R'},
  {"2001:1::2/128", 'R', 'R'},
  {"2001:1::3/128", 'R', 'R'},
  {"2001:2::/48", 'R', 'R'},
  {"2001:3::/32", 'R', 'R'},
  {"2001:4:112::/48", 'R', 'R'},
  {"2001:10::/28", 'R', 'R'},
  {"2001:20::/28", 'R', 'R'},
  {"2001:30::/28", 'R', 'R'},
  {"2001:db8::/32", 'A', 'A'},
  {"2002::/16", 'A', 'A'},
  {"2620:4f:8000::/48", 'A', 'A'},
  {"3fff::/20", 'A', 'A'},
  {"5f00::/16", 'R', 'R'},
  {"fc00::/7", 'R', 'R'},
  {"fe80::/10", 'R', 'R'},
  {"fec0::/10", 'R', 'R'}, /* site-local, deprecated (RFC 3879) */
  {"ff00::/8", 'R', '-'},  /* multicast */
};

/* An address as a sockaddr of its family. */
typedef union {
  struct sockaddr sa;
  struct sockaddr_in in4;
  struct sockaddr_in6 in6;
} addr;

static addr make(int family, const uint8_t *bytes) {
  addr a;
  memset(&a, 0, sizeof a);
  if (family == AF_INET) {
    a.in4.sin_family = AF_INET;
    memcpy(&a.in4.sin_addr, bytes, 4);
  } else {
    a.in6.sin6_family = AF_INET6;
    memcpy(&a.in6.sin6_addr, bytes, 16);
  }
  return a;
}

static addr parse(const char *text) {
  uint8_t b[16];
  if (inet_pton(AF_INET, text, b) == 1) return make(AF_INET, b);
  HL_ASSERT_MSG(inet_pton(AF_INET6, text, b) == 1, "not an address: %s", text);
  return make(AF_INET6, b);
}

static void check(int family, const uint8_t *bytes, char want, const char *what, const char *cidr) {
  addr a = make(family, bytes);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family, bytes, text, sizeof text);
  const char *why = hl_addr_refused_block(&a.sa);
  HL_ASSERT_EQ_INT(hl_addr_is_private(&a.sa), why != NULL);
  if (want == 'R') HL_ASSERT_MSG(why != NULL, "%s of %s (%s) is allowed", what, cidr, text);
  else HL_ASSERT_MSG(why == NULL, "%s of %s (%s) is refused as %s", what, cidr, text, why);
}

/* first - 1 or last + 1 in place; false when it would leave the space. */
static bool step(uint8_t *b, size_t n, int dir) {
  for (size_t i = n; i-- > 0;) {
    uint8_t edge = dir > 0 ? 0xff : 0x00;
    if (b[i] != edge) {
      b[i] = (uint8_t)(b[i] + dir);
      return true;
    }
    b[i] = (uint8_t)(0xff - edge);
  }
  return false;
}

static void walk(const block *k, int family) {
  char net[64];
  const char *slash = strchr(k->cidr, '/');
  HL_ASSERT(slash != NULL);
  snprintf(net, sizeof net, "%.*s", (int)(slash - k->cidr), k->cidr);
  unsigned len = (unsigned)atoi(slash + 1);
  size_t n = family == AF_INET ? 4 : 16;
  uint8_t first[16], last[16];
  HL_ASSERT(inet_pton(family, net, first) == 1);
  for (size_t i = 0; i < n; i++) {
    unsigned host_bits = len >= 8 * (i + 1) ? 0 : len <= 8 * i ? 8 : 8 * (unsigned)(i + 1) - len;
    uint8_t host = (uint8_t)((1u << host_bits) - 1);
    first[i] &= (uint8_t)~host;
    last[i] = first[i] | host;
  }
  check(family, first, 'R', "the first address", k->cidr);
  check(family, last, 'R', "the last address", k->cidr);
  uint8_t below[16], above[16];
  memcpy(below, first, n);
  memcpy(above, last, n);
  bool has_below = step(below, n, -1), has_above = step(above, n, +1);
  HL_ASSERT_MSG(has_below == (k->below != '-'), "%s: below", k->cidr);
  HL_ASSERT_MSG(has_above == (k->above != '-'), "%s: above", k->cidr);
  if (has_below) check(family, below, k->below, "the address below", k->cidr);
  if (has_above) check(family, above, k->above, "the address above", k->cidr);
}

HL_TEST(every_ipv4_special_purpose_block_is_refused_to_its_edges) {
  for (size_t i = 0; i < sizeof v4 / sizeof *v4; i++) walk(&v4[i], AF_INET);
}

HL_TEST(every_ipv6_special_purpose_block_is_refused_to_its_edges) {
  for (size_t i = 0; i < sizeof v6 / sizeof *v6; i++) walk(&v6[i], AF_INET6);
  /* 2000::/3 is the only global unicast space: its edges. */
  uint8_t b[16];
  inet_pton(AF_INET6, "2000::", b);
  check(AF_INET6, b, 'A', "the first address", "2000::/3");
  inet_pton(AF_INET6, "3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", b);
  check(AF_INET6, b, 'A', "the last address", "2000::/3");
  inet_pton(AF_INET6, "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", b);
  check(AF_INET6, b, 'R', "the address below", "2000::/3");
  inet_pton(AF_INET6, "4000::", b);
  check(AF_INET6, b, 'R', "the address above", "2000::/3");
}

/* Addresses carrying an IPv4 address are judged by it. */
HL_TEST(embedded_ipv4_addresses_are_judged_by_what_they_carry) {
  static const struct { const char *text; char want; const char *block; } cases[] = {
    {"8.8.8.8", 'A', NULL},
    {"1.1.1.1", 'A', NULL},
    {"2606:4700:4700::1111", 'A', NULL},
    {"2a00:1450:4001::1", 'A', NULL},
    {"::ffff:8.8.8.8", 'A', NULL},
    {"::ffff:10.1.2.3", 'R', "10.0.0.0/8"},
    {"::ffff:169.254.169.254", 'R', "169.254.0.0/16"},
    {"64:ff9b::8.8.8.8", 'A', NULL},
    {"64:ff9b::169.254.169.254", 'R', "169.254.0.0/16"},
    {"64:ff9b::198.18.0.1", 'R', "198.18.0.0/15"},
    {"64:ff9b::127.0.0.1", 'R', "127.0.0.0/8"},
    {"64:ff9b::192.168.0.1", 'R', "192.168.0.0/16"},
    {"2002:808:808::1", 'A', NULL},
    {"2002:a00:1::", 'R', "10.0.0.0/8"},
    {"2002:c612:1::1", 'R', "198.18.0.0/15"},
    {"2002:7f00:1::", 'R', "127.0.0.0/8"},
    /* Local-use NAT64: public at every position... */
    {"64:ff9b:1:808:808:808:808:808", 'A', NULL},
    /* ...private where a /96 translator reads it, */
    {"64:ff9b:1:808:808:8:a00:1", 'R', "10.0.0.0/8"},
    /* where a /48 one does (127.0.1.8), */
    {"64:ff9b:1:7f00:1:808:808:808", 'R', "127.0.0.0/8"},
    /* and with zeros at the /48 position (0.0.0.0). */
    {"64:ff9b:1::808:808", 'R', "0.0.0.0/8"},
    {"::10.1.2.3", 'R', "::/96"},
    {"::8.8.8.8", 'R', "::/96"},
    {"2001:0:4136:e378:8000:63bf:3fff:fdd2", 'R', "2001::/32"}, /* Teredo */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    addr a = parse(cases[i].text);
    const char *why = hl_addr_refused_block(&a.sa);
    if (cases[i].want == 'A') {
      HL_ASSERT_MSG(why == NULL, "%s is refused as %s", cases[i].text, why);
    } else {
      HL_ASSERT_MSG(why != NULL, "%s is allowed", cases[i].text);
      HL_ASSERT_MSG(strncmp(why, cases[i].block, strlen(cases[i].block)) == 0, "%s is refused as %s, not %s",
                    cases[i].text, why, cases[i].block);
    }
  }
  struct sockaddr un = {.sa_family = AF_UNIX};
  HL_ASSERT(hl_addr_is_private(&un));
}
