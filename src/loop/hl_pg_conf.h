/* hl_pg_conf.h — where a PostgreSQL connection's settings come from, and
 * which setting a failed connection points at.
 *
 * Two sources, the producer API's names (see docs/postgres.md):
 *   DATABASE_URL              a libpq connection URI (postgresql://...) or a
 *                             key=value string; it wins when both are set
 *   AURORA_ENDPOINT           host name (or host:port) of the cluster, with
 *   DATABASE_NAME, DATABASE_USER, DATABASE_PASSWORD (required) and
 *   DATABASE_PORT             (optional, default 5432)
 * Both give libpq keyword/value arrays. Whatever they leave unset, libpq
 * takes from its own PG* variables (PGSSLMODE, PGSSLROOTCERT, ...) when the
 * connection starts, so TLS settings need no names of ours.
 *
 * Settings are read through a lookup function, so the caller decides what
 * "the environment" is (getenv, a config file, a test's table). Nothing here
 * touches the network or the loop. */
#ifndef HL_PG_CONF_H
#define HL_PG_CONF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/hl_buf.h"

typedef enum { HL_PG_FROM_URL, HL_PG_FROM_AURORA } hl_pg_conf_source;

typedef struct {
  hl_pg_conf_source source;
  bool port_set;   /* AURORA mode: DATABASE_PORT (or a port in AURORA_ENDPOINT) was given */
  size_t n;        /* entries before the NULL terminators */
  size_t cap;
  char **keywords; /* owned, NULL-terminated, for PQconnectStartParams */
  char **values;   /* owned, NULL-terminated; values[i] belongs to keywords[i] */
} hl_pg_conf;

/* Returns the value of a setting, or NULL when it is unset (an empty string
 * counts as unset). */
typedef const char *(*hl_pg_lookup_fn)(void *data, const char *name);
/* The process environment, for hl_pg_conf_load. */
const char *hl_pg_lookup_env(void *data, const char *name);

/* Fills c from the settings. Returns 0, or HL_EINVAL with one line in err
 * that starts with the variable's name ("DATABASE_PORT: ..."). c must be
 * disposed either way. Secrets never appear in err. Adds, unless the source
 * set them: application_name=hookloop, client_encoding=UTF8 (the bytes we
 * store are UTF-8 whatever the database's encoding), gssencmode=disable
 * (no Kerberos credential lookups while connecting) and, unless
 * PGTARGETSESSIONATTRS is set, target_session_attrs=read-write (a server
 * that takes no writes is passed over). */
int hl_pg_conf_load(hl_pg_conf *c, hl_pg_lookup_fn lookup, void *data, hl_buf *err);
void hl_pg_conf_dispose(hl_pg_conf *c);

/* The value of keyword, or NULL. */
const char *hl_pg_conf_get(const hl_pg_conf *c, const char *keyword);
/* Sets (replaces or adds) keyword; value is copied. */
void hl_pg_conf_set(hl_pg_conf *c, const char *keyword, const char *value);

/* The SQLSTATE in a libpq error message made with PQERRORS_VERBOSE
 * ("FATAL:  28P01: password ..."); false when there is none (failures on
 * the client side: refused, timed out, TLS). */
bool hl_pg_sqlstate_of(const char *msg, char out[6]);

/* The variable a connection failure points at, from its libpq message (made
 * with PQERRORS_VERBOSE, or one of hl_pg's own):
 *   "DATABASE_PASSWORD/DATABASE_USER"  password rejected (the server answers
 *                                      an unknown role the same way)
 *   "DATABASE_USER"                    role refused otherwise (28000, 42501)
 *   "DATABASE_NAME"                    no such database
 *   "AURORA_ENDPOINT[/DATABASE_PORT]"  cannot reach or resolve the host
 *   "PGSSLROOTCERT", "PGSSLMODE"       the certificate does not verify, or the
 *                                      server has no TLS
 *   "DATABASE_URL"                     any of these, when the settings came
 *                                      from it
 * NULL when the server is there but cannot take the connection now
 * (starting up, shutting down, too many connections). */
const char *hl_pg_conf_blame(const hl_pg_conf *c, const char *msg);

/* Appends "<variable>: <message>" to out (the message alone when nothing is
 * blamed, or when c is NULL: a connection lost after it was up blames no
 * setting), on one line: the verbose SQLSTATE tag and LOCATION lines are
 * removed. */
void hl_pg_conf_explain(const hl_pg_conf *c, const char *msg, hl_buf *out);

#endif
