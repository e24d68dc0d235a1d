#include "common/hl_addr_policy.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The IANA IPv4 Special-Purpose Address Registry, block by block (a block
 * inside a larger one listed is covered by it: 192.0.0.0/24 holds 192.0.0.0/29
 * IPv4 service continuity, 192.0.0.8/32 dummy address, 192.0.0.9/32 PCP
 * anycast, 192.0.0.10/32 TURN anycast and 192.0.0.170-171/32 NAT64/DNS64
 * discovery; 240.0.0.0/4 holds 255.255.255.255/32 limited broadcast), plus
 * multicast. The unit test checks each against the CIDR text. */
typedef struct {
  uint32_t net;
  unsigned len;
  const char *name;
} v4_block;

static const v4_block v4_blocks[] = {
  {0x00000000, 8, "0.0.0.0/8 \"this network\" (RFC 791)"},
  {0x0a000000, 8, "10.0.0.0/8 private-use (RFC 1918)"},
  {0x64400000, 10, "100.64.0.0/10 shared address space (RFC 6598)"},
  {0x7f000000, 8, "127.0.0.0/8 loopback (RFC 1122)"},
  {0xa9fe0000, 16, "169.254.0.0/16 link-local (RFC 3927)"},
  {0xac100000, 12, "172.16.0.0/12 private-use (RFC 1918)"},
  {0xc0000000, 24, "192.0.0.0/24 IETF protocol assignments (RFC 6890)"},
  {0xc0000200, 24, "192.0.2.0/24 documentation TEST-NET-1 (RFC 5737)"},
  {0xc01fc400, 24, "192.31.196.0/24 AS112-v4 (RFC 7535)"},
  {0xc034c100, 24, "192.52.193.0/24 AMT (RFC 7450)"},
  {0xc0586300, 24, "192.88.99.0/24 6to4 relay anycast, deprecated (RFC 7526)"},
  {0xc0a80000, 16, "192.168.0.0/16 private-use (RFC 1918)"},
  {0xc0af3000, 24, "192.175.48.0/24 direct delegation AS112 service (RFC 7534)"},
  {0xc6120000, 15, "198.18.0.0/15 benchmarking (RFC 2544)"},
  {0xc6336400, 24, "198.51.100.0/24 documentation TEST-NET-2 (RFC 5737)"},
  {0xcb007100, 24, "203.0.113.0/24 documentation TEST-NET-3 (RFC 5737)"},
  {0xe0000000, 4, "224.0.0.0/4 multicast (RFC 5771)"},
  {0xf0000000, 4, "240.0.0.0/4 reserved (RFC 1112), with 255.255.255.255 limited broadcast"},
};

static const char *v4_refused(const uint8_t b[4]) {
  uint32_t a = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  for (size_t i = 0; i < sizeof v4_blocks / sizeof *v4_blocks; i++)
    if (a >> (32 - v4_blocks[i].len) == v4_blocks[i].net >> (32 - v4_blocks[i].len)) return v4_blocks[i].name;
  return NULL;
}

/* How an IPv6 block is judged. */
typedef enum {
  V6_REFUSE,       /* always */
  V6_V4_AT_12,     /* by the IPv4 address in the last 32 bits */
  V6_V4_AT_2,      /* by the IPv4 address in bits 16..47 (6to4) */
  V6_LOCAL_NAT64,  /* by the IPv4 address at every RFC 6052 position inside a /48 */
} v6_rule;

typedef struct {
  uint8_t prefix[16];
  unsigned len;
  v6_rule rule;
  const char *name;
} v6_block;

/* The IANA IPv6 Special-Purpose Address Registry, the first match deciding
 * (so the more specific blocks come first). Inside 2001::/23 it also lists
 * 2001:1::1-3/128 anycast, 2001:2::/48 benchmarking, 2001:3::/32 AMT,
 * 2001:4:112::/48 AS112-v6, 2001:10::/28 and 2001:20::/28 ORCHID and
 * 2001:30::/28 drone identifiers; outside 2000::/3 100:0:0:1::/64 (dummy
 * prefix), which the 2000::/3 rule refuses. */
static const v6_block v6_blocks[] = {
  {{0}, 128, V6_REFUSE, "::/128 unspecified (RFC 4291)"},
  {{[15] = 1}, 128, V6_REFUSE, "::1/128 loopback (RFC 4291)"},
  {{[10] = 0xff, [11] = 0xff}, 96, V6_V4_AT_12, "::ffff:0:0/96 IPv4-mapped (RFC 4291)"},
  {{0}, 96, V6_REFUSE, "::/96 IPv4-compatible, deprecated (RFC 4291)"},
  {{0x00, 0x64, 0xff, 0x9b}, 96, V6_V4_AT_12, "64:ff9b::/96 IPv4-IPv6 translation (RFC 6052)"},
  {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, V6_LOCAL_NAT64, "64:ff9b:1::/48 local-use IPv4-IPv6 translation (RFC 8215)"},
  {{0x01, 0x00}, 64, V6_REFUSE, "100::/64 discard-only (RFC 6666)"},
  {{0x20, 0x01}, 32, V6_REFUSE, "2001::/32 Teredo (RFC 4380)"},
  {{0x20, 0x01}, 23, V6_REFUSE, "2001::/23 IETF protocol assignments (RFC 2928)"},
  {{0x20, 0x01, 0x0d, 0xb8}, 32, V6_REFUSE, "2001:db8::/32 documentation (RFC 3849)"},
  {{0x20, 0x02}, 16, V6_V4_AT_2, "2002::/16 6to4 (RFC 3056)"},
  {{0x26, 0x20, 0x00, 0x4f, 0x80, 0x00}, 48, V6_REFUSE, "2620:4f:8000::/48 direct delegation AS112 service (RFC 7534)"},
  {{0x3f, 0xff}, 20, V6_REFUSE, "3fff::/20 documentation (RFC 9637)"},
  {{0x5f, 0x00}, 16, V6_REFUSE, "5f00::/16 SRv6 SIDs (RFC 9602)"},
  {{0xfc}, 7, V6_REFUSE, "fc00::/7 unique-local (RFC 4193)"},
  {{0xfe, 0x80}, 10, V6_REFUSE, "fe80::/10 link-local (RFC 4291)"},
  {{0xfe, 0xc0}, 10, V6_REFUSE, "fec0::/10 site-local, deprecated (RFC 3879)"},
  {{0xff}, 8, V6_REFUSE, "ff00::/8 multicast (RFC 4291)"},
};

static bool v6_in(const uint8_t a[16], const uint8_t prefix[16], unsigned len) {
  unsigned whole = len / 8, bits = len % 8;
  if (memcmp(a, prefix, whole) != 0) return false;
  if (bits == 0) return true;
  uint8_t mask = (uint8_t)(0xff << (8 - bits));
  return (a[whole] & mask) == (prefix[whole] & mask);
}

/* RFC 6052 2.2: where a translator with a /48, /56, /64 or /96 prefix reads
 * the IPv4 address (bits 64..71 are skipped). */
static const char *local_nat64_refused(const uint8_t b[16]) {
  static const uint8_t at[4][4] = {{6, 7, 9, 10}, {7, 9, 10, 11}, {9, 10, 11, 12}, {12, 13, 14, 15}};
  for (size_t i = 0; i < 4; i++) {
    const uint8_t v4[4] = {b[at[i][0]], b[at[i][1]], b[at[i][2]], b[at[i][3]]};
    const char *why = v4_refused(v4);
    if (why) return why;
  }
  return NULL;
}

static const char *v6_refused(const uint8_t b[16]) {
  for (size_t i = 0; i < sizeof v6_blocks / sizeof *v6_blocks; i++) {
    const v6_block *k = &v6_blocks[i];
    if (!v6_in(b, k->prefix, k->len)) continue;
    switch (k->rule) {
    case V6_REFUSE: return k->name;
    case V6_V4_AT_12: return v4_refused(b + 12);
    case V6_V4_AT_2: return v4_refused(b + 2);
    case V6_LOCAL_NAT64: return local_nat64_refused(b);
    }
  }
  if ((b[0] & 0xe0) != 0x20) return "outside 2000::/3, the IPv6 global unicast space (RFC 4291)";
  return NULL;
}

const char *hl_addr_refused_block(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET) return v4_refused((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
  if (sa->sa_family == AF_INET6) return v6_refused(((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
  return "not an IP address";
}

bool hl_addr_is_private(const struct sockaddr *sa) { return hl_addr_refused_block(sa) != NULL; }
