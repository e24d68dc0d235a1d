/* hl_http_server.h — an HTTP/1.1 server on a libuv loop (http-parser from
 * Debian does the parsing; libuv does the I/O).
 *
 * Behaviour: keep-alive (HTTP/1.1 default, HTTP/1.0 with the header),
 * pipelined requests answered in order (one request is handled at a time per
 * connection; the next is parsed once the previous response is queued; a
 * connection hands out at most 32 requests before it lets the loop turn, so
 * a pipelining client cannot hold the other connections and the timers),
 * header size limit (16 KiB -> 431), body size limit per request chosen by
 * the owner before the body is read (Content-Length over the limit -> 413
 * at once, chunked bodies cut off at the limit -> 413), timeouts against
 * slow clients (headers, body, idle keep-alive), JSON error bodies for the
 * errors the server itself answers ({"error": "...", "message": "..."}).
 * An owner's admit callback may refuse a request on its head alone (an
 * unauthenticated caller, say): the refusal is answered before any of the
 * body is read or buffered, and the connection then closes (lingering).
 * "Expect: 100-continue" is answered with 100 before the body is read, once
 * the head is admitted and its Content-Length within the limit.
 * Request bodies held in memory across connections are bounded
 * (max_buffered_body_bytes): from its head until its answer, a request
 * counts its declared Content-Length, or for a chunked body its limit (what
 * it may grow to). A head whose body would take the count past the bound
 * is answered 503 "busy" with Retry-After before its body is read, and the
 * connection then closes (lingering); a body is admitted whatever its size
 * while none is held, so a lone request within its own limit always goes
 * through.
 *
 * An answer that says "Connection: close" (the client asked for it, HTTP/1.0
 * without keep-alive, the server's own 400/413/431, or the server is
 * stopping) ends the connection with a lingering close: the write side is
 * shut once the answer is flushed (the client reads it, then EOF), and what
 * the client still sends is read and discarded until it closes too, bounded
 * by linger_time_ms, linger_timeout_ms of silence and linger_max_bytes.
 *
 * Ownership: the server owns every connection and request. A request is
 * handed to the handler once its body is complete and stays valid until
 * hl_http_respond is called for it — the handler may answer at once or
 * later from another callback (asynchronous handlers). If the client goes
 * away first, the request stays valid; hl_http_respond then just frees it
 * and hl_http_req_is_aborted() says true. Every request must be answered
 * exactly once.
 */
#ifndef HL_HTTP_SERVER_H
#define HL_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct {
  const char *name;  /* lower-case (request headers are lower-cased by the server) */
  size_t name_len;
  const char *value;
  size_t value_len;
} hl_http_header;

typedef struct hl_http_req hl_http_req;
struct hl_http_req {
  const char *method;       /* "GET", "POST", ... NUL-terminated */
  const char *path;         /* raw path without the query, NUL-terminated */
  size_t path_len;
  const char *query;        /* after '?', "" when none, NUL-terminated */
  size_t query_len;
  const hl_http_header *headers;
  size_t nheaders;
  const char *body;         /* NUL-terminated for convenience; may hold NULs */
  size_t body_len;
  void *user;               /* free for the handler to use */
  void *detached_;          /* internal: non-NULL for requests not from a connection */
};

/* A request that did not come from a connection (API Gateway events in
 * Lambda): the same handlers answer it, and hl_http_respond hands the
 * answer to cb instead of a socket. Everything given is copied. */
typedef void (*hl_http_detached_cb)(void *data, int status, const hl_http_header *headers, size_t nheaders,
                                    const char *body, size_t body_len);
hl_http_req *hl_http_req_detached(const char *method, const char *path, const char *query,
                                  const hl_http_header *headers, size_t nheaders, const char *body,
                                  size_t body_len, hl_http_detached_cb cb, void *data);

/* Called once per complete request. */
typedef void (*hl_http_handler_cb)(hl_http_req *req, void *data);
/* Called when the headers are complete, before the body is read: returns the
 * largest body accepted for this method and path (0 = no body allowed). */
typedef size_t (*hl_http_body_limit_cb)(const char *method, const char *path, size_t path_len,
                                        void *data);
/* A refusal of a request on its head. status 0: admitted. code and message
 * (the JSON error body) and header (one more header of the answer, such as
 * WWW-Authenticate; name NULL: none) must outlive the call: static
 * strings. */
typedef struct {
  int status;
  const char *code, *message;
  hl_http_header header;
} hl_http_refusal;
/* Called when the headers are complete, before the body limit is asked and
 * before any of the body is read; head has method, path, query and headers
 * (body_len 0). Fills r to refuse the request. */
typedef void (*hl_http_admit_cb)(const hl_http_req *head, void *data, hl_http_refusal *r);
/* The 413's message for a body over limit bytes, naming the limit (a client
 * told only "over the limit" cannot size its batches). */
void hl_http_too_large_message(size_t limit, char *out, size_t n);

typedef struct {
  hl_http_handler_cb on_request;
  hl_http_body_limit_cb body_limit;  /* NULL: 1 MiB for every request */
  hl_http_admit_cb admit;            /* NULL: every head is admitted */
  void *data;                        /* passed to the callbacks */
  unsigned header_timeout_ms;        /* 0: 10 s — time to receive the headers */
  unsigned body_timeout_ms;          /* 0: 30 s — time to receive the body */
  unsigned idle_timeout_ms;          /* 0: 60 s — keep-alive idle time */
  unsigned max_connections;          /* 0: 10000; more are accepted and closed at once */
  unsigned linger_timeout_ms;        /* 0: 5 s — after a closing answer, the longest silence awaited */
  unsigned linger_time_ms;           /* 0: 30 s — after a closing answer, the longest time before closing */
  size_t linger_max_bytes;           /* 0: 16 MiB — after a closing answer, the most bytes read and discarded */
  size_t max_buffered_body_bytes;    /* 0: 256 MiB — request bodies held across connections (see above) */
} hl_http_server_config;

typedef struct hl_http_server hl_http_server;

/* Reads a listen address: "<IPv4 address>:<port>", "[<IPv6 address>]:<port>"
 * or "localhost:<port>" (127.0.0.1), the port 0-65535 in decimal digits
 * (0: a free one). Returns 0, or HL_EINVAL for anything else. */
int hl_http_server_addr_parse(const char *addr, struct sockaddr_storage *ss);

/* Allocates a server bound to addr ("127.0.0.1:8080", "[::1]:0", "0.0.0.0:80";
 * port 0 picks a free one). Returns 0 or a negative hl_err; *out set on 0. */
int hl_http_server_create(uv_loop_t *loop, const char *addr, const hl_http_server_config *cfg,
                          hl_http_server **out);
/* Starts listening. */
int hl_http_server_start(hl_http_server *s);
/* Serves an already connected stream socket as if the listener had
 * accepted it (a socketpair in tests and the fuzz target; no listening
 * needed). Takes fd in every case. Returns 0, HL_EBUSY (stopping or at
 * max_connections: closed at once) or HL_EIO (not a usable socket). */
int hl_http_server_adopt(hl_http_server *s, uv_os_sock_t fd);
/* The port actually bound. */
int hl_http_server_port(const hl_http_server *s);
/* Keeps accepting and answering, and ends each connection after its next
 * answer (Connection: close): a process draining still answers its
 * health check ("draining") and tells clients to go elsewhere, where a
 * closed listener would read as a crash. hl_http_server_stop follows. */
void hl_http_server_drain(hl_http_server *s);
/* Stops accepting; open connections finish their current request and close.
 * Idempotent. */
void hl_http_server_stop(hl_http_server *s);
/* Number of requests handed out and not yet answered. */
size_t hl_http_server_pending(const hl_http_server *s);
/* Closes everything (pending requests are marked aborted and must still be
 * answered by their owners) and frees the server once every handle closed;
 * cb (may be NULL) runs then. */
void hl_http_server_destroy(hl_http_server *s, void (*cb)(void *data), void *data);

/* Looks up a request header by lower-case name; NULL when absent. */
const char *hl_http_req_header(const hl_http_req *req, const char *lname, size_t *value_len);
bool hl_http_req_is_aborted(const hl_http_req *req);

/* Sends the response and releases the request. Adds Content-Length, Date,
 * Connection and (when body_len > 0 and no content-type given)
 * "content-type: application/json". headers may be NULL. */
void hl_http_respond(hl_http_req *req, int status, const hl_http_header *headers, size_t nheaders,
                     const char *body, size_t body_len);
/* Releases the request without an answer and closes the connection (for
 * test peers that simulate a dropped connection): the answers of earlier
 * pipelined requests still go out, then the client reads EOF. */
void hl_http_respond_close(hl_http_req *req);
/* Convenience: a JSON error body {"error": code, "message": message}. */
void hl_http_respond_error(hl_http_req *req, int status, const char *code, const char *message);

/* Standard reason phrase, "Unknown" for others. */
const char *hl_http_reason(int status);

#endif
