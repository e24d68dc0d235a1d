/* hl_inbox_conf.h — the inbox source's settings, by the names of the
 * scheduled dispatcher it replaces (docs/inbox.md), and the secret it
 * reads.
 *
 *   API_BASE_URL        the Triggers API, http(s)://host[:port][/prefix] (required)
 *   SECRET_ARN          the Secrets Manager secret holding the credentials (required)
 *   MAX_EVENTS_PER_RUN  events taken per pass, 1..10000 (default 100)
 *   INBOX_AUTH          token (default: POST the api key for a token) or
 *                       jwt (mint an HS256 JWT with the jwt_secret)
 *   INBOX_TOKEN_PATH    default /auth/token
 *   INBOX_PATH          default /inbox
 *   INBOX_ACK_PATH      default /inbox/{id}/ack ("{id}" is replaced)
 *   INBOX_POLL_INTERVAL_S  serve's poll timer (HOOKLOOP_ROLE=inbox), 1..86400 (default 300)
 *   INBOX_SECRET_TTL_S  how long the secret read is used before it is read again, 1..86400 (default 300)
 *   INBOX_RETRY_SCHEDULE  retries of a delivery (default 1s,2s,4s), each delay at most 60 s
 *
 * The secret (SECRET_ARN's SecretString, read through aws/hl_secrets) is a
 * JSON object {"zapier_api_key", "zapier_webhook_url", "jwt_secret"}.
 *
 * Settings are read through a lookup function, so the caller decides what
 * "the environment" is. Nothing here touches the network or the loop, and
 * no secret ever appears in an error message.
 */
#ifndef HL_INBOX_CONF_H
#define HL_INBOX_CONF_H

#include <stddef.h>

typedef enum { HL_INBOX_AUTH_TOKEN = 0, HL_INBOX_AUTH_JWT } hl_inbox_auth;

#define HL_INBOX_MAX_EVENTS_DEFAULT 100
#define HL_INBOX_MAX_EVENTS_LIMIT 10000
#define HL_INBOX_POLL_DEFAULT_S 300
#define HL_INBOX_SECRET_TTL_DEFAULT_S 300
#define HL_INBOX_RETRY_DEFAULT "1s,2s,4s"
#define HL_INBOX_RETRY_CAP_MS 60000 /* no retry of this source waits longer (Retry-After included) */

typedef struct {
  char *api_base_url;
  char *secret_arn;
  unsigned max_events;
  hl_inbox_auth auth;
  char *token_path, *inbox_path, *ack_path;
  unsigned poll_interval_s;
  unsigned secret_ttl_s;
  char *retry_schedule;
} hl_inbox_settings;

/* The value of a setting, or NULL when unset (an empty string counts as unset). */
typedef const char *(*hl_inbox_lookup_fn)(void *data, const char *name);
/* The process environment. */
const char *hl_inbox_lookup_env(void *data, const char *name);

/* Fills s (defaults included). Returns 0, or HL_EINVAL with one line in err
 * starting with the variable's name, never showing its value (API_BASE_URL
 * may carry a user and password, and the line goes to logs). s must be
 * disposed either way. */
int hl_inbox_settings_load(hl_inbox_settings *s, hl_inbox_lookup_fn lookup, void *data, char *err, size_t errlen);
void hl_inbox_settings_dispose(hl_inbox_settings *s);

/* What SECRET_ARN holds. Strings are owned and wiped on dispose. */
typedef struct {
  char *api_key;     /* zapier_api_key */
  char *webhook_url; /* zapier_webhook_url: where the events are delivered */
  char *jwt_secret;  /* jwt_secret */
  /* webhook_secret (optional): the Standard Webhooks secret ("whsec_...")
   * deliveries are signed with; without it, the default secret
   * (WEBHOOK_SECRET_ARN). */
  char *webhook_secret;
} hl_inbox_secret;

/* Parses the SecretString. The webhook URL is required (an http(s) URL);
 * so is zapier_api_key with auth token, and jwt_secret (at least 32 bytes,
 * RFC 7518 §3.2) with auth jwt; the other credential may be absent.
 * Returns 0, or HL_EINVAL / HL_EPARSE with one line in err naming the
 * member, never its value. s must be disposed either way. */
int hl_inbox_secret_parse(hl_inbox_secret *s, const char *text, size_t len, hl_inbox_auth auth, char *err,
                          size_t errlen);
void hl_inbox_secret_dispose(hl_inbox_secret *s);

#endif
