/* hl_testutil.h — helpers for tests that run real components: temporary
 * directories, loopback ports, child processes, reading files and vectors. */
#ifndef HL_TESTUTIL_H
#define HL_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "json/hl_json.h"

/* $TMPDIR, or /tmp when it is unset or empty: where a test's scratch files
 * go. The runner gives each test a $TMPDIR of its own (hl_test.h). */
const char *hl_tmp_base(void);
/* mkdtemp under hl_tmp_base(); returns a malloc'd path. */
char *hl_tmpdir(const char *tag);
/* rm -rf of a directory made by hl_tmpdir. */
void hl_rmtree(const char *path);
/* Ports: a peer binds port 0 itself and says which port it got
 * (hl_spawn_listening); no port is guessed free here for another process to
 * take first. */
/* Binds a socket to a free 127.0.0.1 port without listening: connections
 * to the port are refused, and no other process can bind it while the
 * socket is open. Returns the fd (close it to free the port) and sets *port. */
int hl_hold_port(int *port);
/* Reads a whole file; returns malloc'd, NUL-terminated bytes or NULL. */
char *hl_read_file(const char *path, size_t *len);
/* Joins HL_VECTORS_DIR and a relative path into a static buffer. */
const char *hl_vector_path(const char *rel);
/* Reads and parses a JSON vector file (path relative to HL_VECTORS_DIR)
 * into doc, failing the test when it cannot; returns doc->root. The caller
 * disposes of doc. */
const hl_json *hl_vector_json(const char *rel, hl_json_doc *doc);
/* The object in array arr whose member key is the string value, or NULL. */
const hl_json *hl_json_find(const hl_json *arr, const char *key, const char *value);
/* Path of a built executable in the build tree (static buffer). */
const char *hl_bin_path(const char *name);

/* Spawns argv (argv[0] a path, or a name looked up on PATH) with extra
 * "NAME=VALUE" entries added to the environment
 * (envp may be NULL); stdout/stderr go to log_path when not NULL. */
pid_t hl_spawn(char *const argv[], char *const envp[], const char *log_path);
/* Spawns argv like hl_spawn, its output appended to log_path, and waits up
 * to timeout_ms until it prints a line "listening [<host>:]<port>" (the
 * peers of the tests all do once they listen, hookloop serve included;
 * start them on port 0). Returns the port, or -1 when the child exits or
 * the time is up (it is then killed). *pid gets the child either way. */
int hl_spawn_listening(char *const argv[], char *const envp[], const char *log_path, pid_t *pid, int timeout_ms);
/* A fresh log path under hl_tmp_base() for a child: tag and a counter. */
const char *hl_log_path(const char *tag, char *buf, size_t len);
/* Waits up to timeout_ms for the child; returns its wait status, or -1 on
 * timeout (the child is then killed with SIGKILL and reaped). */
int hl_wait(pid_t pid, int timeout_ms);
void hl_sleep_ms(int ms);

/* Open file descriptors of a process (0: this one), counted in
 * /proc/<pid>/fd; -1 when that cannot be read. */
int hl_count_fds(pid_t pid);
/* Polls hl_count_fds(pid) until it is at most `want` or timeout_ms passed;
 * returns the last count. */
int hl_wait_fds_at_most(pid_t pid, int want, int timeout_ms);

/* Raw HTTP clients, for what libcurl will not send or wait for. */
/* A blocking TCP connection to 127.0.0.1:port with 5 s send and receive
 * timeouts; -1 on failure. */
int hl_connect_loopback(int port);
/* Sends req on a new connection to 127.0.0.1:port, then reads until the
 * server closes. Returns the bytes read (the first cap-1 are kept in out,
 * NUL-terminated), or -1 when the server did not close within 5 s. */
long hl_exchange_until_eof(int port, const char *req, size_t req_len, char *out, size_t cap);
/* Sends head on a new connection, then up to body_len bytes of body while
 * reading what the server answers, as a client that does not wait for the
 * answer before sending does; stops sending when the server closes. Returns
 * the bytes read (the first cap-1 kept in out, NUL-terminated) once the server
 * closed, or -1 when it did not within 5 s of silence or on a reset; *sent
 * gets the body bytes sent. */
long hl_send_body_until_eof(int port, const char *head, size_t body_len, char *out, size_t cap, size_t *sent);
/* `rounds` times, each on a new connection to an hl_http_server: GET path
 * with "Connection: close" and as HTTP/1.0 (200), garbage (400), a POST to
 * post_path declaring over_limit bytes (413) and 101 headers (431); asserts
 * each answer says "Connection: close" and is followed by EOF. */
void hl_closing_requests(int port, int rounds, const char *path, const char *post_path, size_t over_limit);

#endif

/* A blocking HTTP call with libcurl (tests only). headers: NULL-terminated
 * "Name: value" list or NULL. Returns the status code (0 on transport
 * error); *resp (may be NULL) gets the malloc'd body. */
long hl_http(const char *method, const char *url, const char *body, size_t body_len,
             const char *const *headers, char **resp);
/* Same, returning a response header's value in hdr_out (when found). */
long hl_http_hdr(const char *method, const char *url, const char *body, size_t body_len,
                 const char *const *headers, char **resp, const char *hdr_name, char *hdr_out,
                 size_t hdr_len);

/* The Kafka test broker (tools/mock_kafka) in its own process. */
typedef struct {
  pid_t pid;
  int in_fd;          /* its stdin */
  int out_fd;         /* its stdout */
  char bootstrap[640];
} hl_mock_kafka;

/* Starts it with n brokers; fills bootstrap. */
int hl_mock_kafka_start(hl_mock_kafka *m, int brokers);
/* Sends one command line ("down 1", "create t 4 3") and waits for "ok". */
int hl_mock_kafka_cmd(hl_mock_kafka *m, const char *cmd);
void hl_mock_kafka_stop(hl_mock_kafka *m);

/* The AWS test peer (tools/aws_peer) on 127.0.0.1:*port (0: a free port,
 * read back into *port) with the given arguments after --listen
 * (NULL-terminated, e.g. "--upstream", URL). Fails the test when it does not
 * start; returns its pid. */
pid_t hl_aws_peer_start(int *port, const char *const *args);

/* dynalite (a DynamoDB-compatible server, installed by `npm ci` in tests/)
 * in its own process on a free loopback port, in memory. It dies with the
 * test process, even when a test fails. create_table_ms: how long new
 * tables stay CREATING (dynalite's default is 500). d->port: 0 for a free
 * port (bound by dynalite itself, read back), or the port to use. */
typedef struct {
  pid_t pid;
  int port;
  char endpoint[64]; /* http://127.0.0.1:<port> */
} hl_dynalite;

int hl_dynalite_start(hl_dynalite *d, int create_table_ms);
void hl_dynalite_stop(hl_dynalite *d);
