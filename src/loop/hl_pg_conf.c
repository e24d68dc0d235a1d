#include "loop/hl_pg_conf.h"
#include "common/hl_common.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

const char *hl_pg_lookup_env(void *data, const char *name) {
  (void)data;
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

static const char *lookup(hl_pg_lookup_fn fn, void *data, const char *name) {
  const char *v = fn(data, name);
  return v && *v ? v : NULL;
}

const char *hl_pg_conf_get(const hl_pg_conf *c, const char *keyword) {
  for (size_t i = 0; i < c->n; i++)
    if (strcmp(c->keywords[i], keyword) == 0) return c->values[i];
  return NULL;
}

void hl_pg_conf_set(hl_pg_conf *c, const char *keyword, const char *value) {
  for (size_t i = 0; i < c->n; i++) {
    if (strcmp(c->keywords[i], keyword) == 0) {
      hl_free(c->values[i]);
      c->values[i] = hl_strdup(value);
      return;
    }
  }
  if (c->n + 1 >= c->cap) {
    c->cap = c->cap ? c->cap * 2 : 16;
    c->keywords = hl_realloc(c->keywords, c->cap * sizeof *c->keywords);
    c->values = hl_realloc(c->values, c->cap * sizeof *c->values);
  }
  c->keywords[c->n] = hl_strdup(keyword);
  c->values[c->n] = hl_strdup(value);
  c->n++;
  c->keywords[c->n] = NULL;
  c->values[c->n] = NULL;
}

static void set_default(hl_pg_conf *c, const char *keyword, const char *value) {
  if (!hl_pg_conf_get(c, keyword)) hl_pg_conf_set(c, keyword, value);
}

void hl_pg_conf_dispose(hl_pg_conf *c) {
  for (size_t i = 0; i < c->n; i++) {
    hl_free(c->keywords[i]);
    hl_free(c->values[i]);
  }
  hl_free(c->keywords);
  hl_free(c->values);
  *c = (hl_pg_conf){0};
}

/* A port number, 1..65535, and nothing else. */
static bool valid_port(const char *s, size_t n) {
  if (n == 0 || n > 5) return false;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  return v >= 1 && v <= 65535;
}

/* libpq's parse errors quote the offending part of the string; when that
 * part lies in the URI's user:password section, the message is withheld. */
static bool message_shows_password(const char *url, const char *msg) {
  const char *s = strstr(url, "://");
  if (!s) return false;
  s += 3;
  const char *at = strchr(s, '@'), *slash = strchr(s, '/');
  if (!at || (slash && slash < at)) return false;
  const char *colon = memchr(s, ':', (size_t)(at - s));
  if (!colon || colon + 1 == at) return false;
  /* Any 3 consecutive bytes of the password quoted in the message. */
  size_t plen = (size_t)(at - colon - 1);
  for (size_t i = 0; i + HL_MIN(plen, 3) <= plen; i++)
    if (memmem(msg, strlen(msg), colon + 1 + i, HL_MIN(plen, 3))) return true;
  return false;
}

static void one_line(hl_buf *out, const char *s) {
  size_t start = out->len;
  for (; *s; s++) {
    char ch = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
    if (ch == ' ' && (out->len == start || out->data[out->len - 1] == ' ')) continue;
    hl_buf_putc(out, ch);
  }
  while (out->len > start && out->data[out->len - 1] == ' ') out->data[--out->len] = '\0';
}

static int load_url(hl_pg_conf *c, const char *url, hl_buf *err) {
  char *msg = NULL;
  PQconninfoOption *opts = PQconninfoParse(url, &msg);
  if (!opts) {
    hl_buf_puts(err, "DATABASE_URL: not a libpq connection URI or key=value string");
    if (msg) {
      if (message_shows_password(url, msg)) {
        hl_buf_puts(err, " (libpq's reason is withheld: it quotes the password)");
      } else {
        hl_buf_puts(err, ": ");
        one_line(err, msg);
      }
      PQfreemem(msg);
    }
    return HL_EINVAL;
  }
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (o->val && *o->val) hl_pg_conf_set(c, o->keyword, o->val);
  PQconninfoFree(opts);
  /* libpq reports a bad port only when connecting; say it now. */
  const char *ports = hl_pg_conf_get(c, "port");
  for (const char *p = ports; p && *p;) {
    size_t n = strcspn(p, ",");
    if (n && !valid_port(p, n)) {
      hl_buf_printf(err, "DATABASE_URL: port \"%.*s\" is not a number from 1 to 65535", (int)HL_MIN(n, 16), p);
      return HL_EINVAL;
    }
    p += n + (p[n] == ',');
  }
  return 0;
}

static int load_aurora(hl_pg_conf *c, const char *endpoint, hl_pg_lookup_fn fn, void *data, hl_buf *err) {
  if (strstr(endpoint, "://") || strpbrk(endpoint, "/ \t@?,")) {
    hl_buf_puts(err, "AURORA_ENDPOINT: a host name is expected (the cluster's endpoint, "
                     "e.g. mydb.cluster-abc123.eu-west-1.rds.amazonaws.com); use DATABASE_URL for a URI");
    return HL_EINVAL;
  }
  const char *port = lookup(fn, data, "DATABASE_PORT");
  if (port && !valid_port(port, strlen(port))) {
    hl_buf_printf(err, "DATABASE_PORT: \"%.16s\" is not a number from 1 to 65535", port);
    return HL_EINVAL;
  }
  /* host:port, as the console shows it; an IPv6 literal has several colons. */
  const char *colon = strchr(endpoint, ':');
  char host[256];
  if (colon && strchr(colon + 1, ':') == NULL) {
    if (!valid_port(colon + 1, strlen(colon + 1))) {
      hl_buf_printf(err, "AURORA_ENDPOINT: the port after ':' (\"%.16s\") is not a number from 1 to 65535", colon + 1);
      return HL_EINVAL;
    }
    if (port) {
      hl_buf_puts(err, "DATABASE_PORT: set, but AURORA_ENDPOINT names a port too; give it once");
      return HL_EINVAL;
    }
    port = colon + 1;
    snprintf(host, sizeof host, "%.*s", (int)(colon - endpoint), endpoint);
  } else {
    snprintf(host, sizeof host, "%s", endpoint);
  }
  if (strlen(endpoint) >= sizeof host || !*host) {
    hl_buf_puts(err, "AURORA_ENDPOINT: not a host name (empty or longer than 255 bytes)");
    return HL_EINVAL;
  }
  static const char *const required[][2] = {
    {"DATABASE_NAME", "dbname"}, {"DATABASE_USER", "user"}, {"DATABASE_PASSWORD", "password"}};
  for (size_t i = 0; i < HL_ARRAY_SIZE(required); i++) {
    if (!lookup(fn, data, required[i][0])) {
      hl_buf_printf(err, "%s: not set (required with AURORA_ENDPOINT)", required[i][0]);
      return HL_EINVAL;
    }
  }
  c->port_set = port != NULL;
  hl_pg_conf_set(c, "host", host);
  hl_pg_conf_set(c, "port", port ? port : "5432");
  for (size_t i = 0; i < HL_ARRAY_SIZE(required); i++)
    hl_pg_conf_set(c, required[i][1], lookup(fn, data, required[i][0]));
  return 0;
}

int hl_pg_conf_load(hl_pg_conf *c, hl_pg_lookup_fn fn, void *data, hl_buf *err) {
  *c = (hl_pg_conf){0};
  const char *url = lookup(fn, data, "DATABASE_URL");
  const char *endpoint = lookup(fn, data, "AURORA_ENDPOINT");
  int rc;
  if (url) {
    c->source = HL_PG_FROM_URL;
    rc = load_url(c, url, err);
  } else if (endpoint) {
    c->source = HL_PG_FROM_AURORA;
    rc = load_aurora(c, endpoint, fn, data, err);
  } else {
    hl_buf_puts(err, "DATABASE_URL: not set (nor AURORA_ENDPOINT with DATABASE_NAME, DATABASE_USER "
                     "and DATABASE_PASSWORD)");
    rc = HL_EINVAL;
  }
  if (rc != 0) return rc;
  set_default(c, "application_name", "hookloop");
  set_default(c, "client_encoding", "UTF8");
  set_default(c, "gssencmode", "disable");
  /* Only a server that takes writes: after a failover the demoted writer
   * (or a standby first in a host list) takes connections and refuses
   * every write on them; libpq then tries the next address or host, and
   * the attempt fails while none takes writes. PGTARGETSESSIONATTRS still
   * wins, as libpq's own variables do for what the settings leave unset. */
  if (!getenv("PGTARGETSESSIONATTRS"))
    set_default(c, "target_session_attrs", "read-write");
  return 0;
}

/* "<severity>:  <SQLSTATE, 5 characters>: " — the tag PQERRORS_VERBOSE puts before the text.
 * Returns a pointer to the code, or NULL. */
static const char *find_sqlstate(const char *s) {
  for (const char *p = strstr(s, ":  "); p; p = strstr(p + 1, ":  ")) {
    const char *q = p + 3;
    int i = 0;
    while (i < 5 && (isdigit((unsigned char)q[i]) || isupper((unsigned char)q[i]))) i++;
    if (i == 5 && q[5] == ':' && q[6] == ' ') return q;
  }
  return NULL;
}

bool hl_pg_sqlstate_of(const char *msg, char out[6]) {
  const char *q = msg ? find_sqlstate(msg) : NULL;
  if (!q) return false;
  memcpy(out, q, 5);
  out[5] = '\0';
  return true;
}

/* What a server-side refusal points at; "" for "the server cannot take it
 * now", NULL for codes that say nothing about the settings. */
static const char *blame_sqlstate(const char *code) {
  /* The server answers an unknown role as it answers a wrong password
   * (28P01), so as not to tell which roles exist: both are named. */
  if (strcmp(code, "28P01") == 0) return "DATABASE_PASSWORD/DATABASE_USER";
  if (strncmp(code, "28", 2) == 0 || strcmp(code, "42501") == 0) return "DATABASE_USER";
  if (strcmp(code, "3D000") == 0) return "DATABASE_NAME";
  if (strncmp(code, "57", 2) == 0 || strncmp(code, "53", 2) == 0 || strncmp(code, "08", 2) == 0) return "";
  return NULL;
}

const char *hl_pg_conf_blame(const hl_pg_conf *c, const char *msg) {
  if (!msg) msg = "";
  /* Several addresses may have been tried; the server's own refusal says
   * more than a refused address before it. */
  bool transient = false;
  const char *server = NULL;
  for (const char *q = find_sqlstate(msg); q; q = find_sqlstate(q + 5)) {
    char code[6];
    memcpy(code, q, 5);
    code[5] = '\0';
    const char *b = blame_sqlstate(code);
    if (b && *b) {
      server = b;
      break;
    }
    if (b) transient = true;
  }
  if (!server && transient) return NULL;
  if (c->source == HL_PG_FROM_URL) return "DATABASE_URL";
  if (server) return server;
  if (strstr(msg, "does not support SSL")) return "PGSSLMODE";
  if (strstr(msg, "certificate") || strstr(msg, "SSL")) return "PGSSLROOTCERT";
  if (strstr(msg, "password")) return "DATABASE_PASSWORD";
  if (strstr(msg, "host name") || strstr(msg, "resolve")) return "AURORA_ENDPOINT";
  return c->port_set ? "AURORA_ENDPOINT/DATABASE_PORT" : "AURORA_ENDPOINT";
}

void hl_pg_conf_explain(const hl_pg_conf *c, const char *msg, hl_buf *out) {
  if (!msg) msg = "";
  const char *var = c ? hl_pg_conf_blame(c, msg) : NULL;
  if (var) hl_buf_printf(out, "%s: ", var);
  /* Drop the verbose tags: "<SQLSTATE>: " after a severity and LOCATION lines. */
  hl_buf clean = HL_BUF_INIT;
  for (const char *line = msg; *line;) {
    size_t n = strcspn(line, "\n");
    if (strncmp(line, "LOCATION:", 9) != 0) {
      const char *tag = find_sqlstate(line);
      if (tag && tag < line + n) {
        hl_buf_append(&clean, line, (size_t)(tag - line));
        hl_buf_append(&clean, tag + 7, (size_t)(line + n - tag - 7));
      } else {
        hl_buf_append(&clean, line, n);
      }
      hl_buf_putc(&clean, '\n');
    }
    line += n + (line[n] == '\n');
  }
  one_line(out, clean.data ? clean.data : "");
  hl_buf_dispose(&clean);
}
