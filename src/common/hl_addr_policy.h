/* hl_addr_policy.h — the addresses hookloop does not send webhooks to
 * unless HOOKLOOP_ALLOW_PRIVATE_TARGETS=1 (the guard against server-side
 * request forgery: a partner URL must not reach the operator's own network,
 * the cloud metadata service or loopback).
 *
 * Refused:
 * - every block of the IANA IPv4 and IPv6 Special-Purpose Address Registries
 *   (https://www.iana.org/assignments/iana-ipv4-special-registry/ and
 *   https://www.iana.org/assignments/iana-ipv6-special-registry/, RFC 6890
 *   and RFC 8190), including the few marked globally reachable: they are
 *   anycast infrastructure (PCP, TURN, AS112, AMT), never a partner;
 * - IPv4 multicast 224.0.0.0/4 (RFC 5771);
 * - every IPv6 address outside 2000::/3, the only block IANA allocates for
 *   global unicast (https://www.iana.org/assignments/ipv6-address-space/):
 *   this takes in fec0::/10 (deprecated site-local, RFC 3879), ff00::/8
 *   (multicast), ::/96 (deprecated IPv4-compatible, RFC 4291 2.5.5.1) and
 *   whatever the registries add outside it.
 * An address that carries an IPv4 address is judged by that address, since
 * the packet ends there: IPv4-mapped ::ffff:0:0/96, NAT64 64:ff9b::/96
 * (RFC 6052) and 6to4 2002::/16 (RFC 3056). In the local-use NAT64 prefix
 * 64:ff9b:1::/48 (RFC 8215) the translator's prefix length is the
 * operator's choice, so the IPv4 address at each position RFC 6052 allows
 * inside a /48 (/48, /56, /64, /96) is checked, and one refused refuses.
 * Teredo 2001::/32 (the client address is obfuscated) is refused whole, as
 * all of 2001::/23.
 *
 * Pure functions without state: callable from any thread. */
#ifndef HL_ADDR_POLICY_H
#define HL_ADDR_POLICY_H

#include <stdbool.h>
#include <sys/socket.h>

/* The block that refuses sa, as "<prefix> <name> (<RFC>)" (a static
 * string), or NULL for an address a partner may have. For an address judged
 * by the IPv4 address it carries, the IPv4 block. Families other than
 * AF_INET and AF_INET6 are refused. */
const char *hl_addr_refused_block(const struct sockaddr *sa);

/* hl_addr_refused_block(sa) != NULL. */
bool hl_addr_is_private(const struct sockaddr *sa);

#endif
