#include "hl_testutil.h"
#include "hl_test.h"
#include "json/hl_json.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *hl_tmp_base(void) {
  const char *base = getenv("TMPDIR");
  return base && *base ? base : "/tmp";
}

char *hl_tmpdir(const char *tag) {
  char path[512];
  snprintf(path, sizeof path, "%s/hookloop-%s-XXXXXX", hl_tmp_base(), tag);
  if (!mkdtemp(path)) return NULL;
  return strdup(path);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  return remove(p);
}

void hl_rmtree(const char *path) {
  if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int hl_hold_port(int *port) {
  /* CLOEXEC: a child spawned meanwhile must not keep the port bound. */
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
    if (fd >= 0) close(fd);
    return -1;
  }
  *port = ntohs(a.sin_port);
  return fd;
}

char *hl_read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while (buf && (r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n - 1 == 0) { cap *= 2; buf = realloc(buf, cap); }
  }
  fclose(f);
  if (!buf) return NULL;
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

const char *hl_vector_path(const char *rel) {
  static char p[1024];
  snprintf(p, sizeof p, "%s/%s", HL_VECTORS_DIR, rel);
  return p;
}

const hl_json *hl_vector_json(const char *rel, hl_json_doc *doc) {
  size_t len;
  char *text = hl_read_file(hl_vector_path(rel), &len);
  HL_ASSERT_MSG(text, "cannot read %s", hl_vector_path(rel));
  hl_json_doc_init(doc);
  hl_json_error err;
  HL_ASSERT_MSG(hl_json_parse(doc, text, len, &err) == 0, "%s: %s at line %d", rel, err.message, err.line);
  free(text);
  return doc->root;
}

const hl_json *hl_json_find(const hl_json *arr, const char *key, const char *value) {
  for (uint32_t i = 0; arr && arr->type == HL_JSON_ARRAY && i < arr->len; i++) {
    const char *v = hl_json_str(hl_json_get(&arr->u.items[i], key));
    if (v && strcmp(v, value) == 0) return &arr->u.items[i];
  }
  return NULL;
}

const char *hl_bin_path(const char *name) {
  static char p[1024];
  snprintf(p, sizeof p, "%s/%s", HL_BINARY_DIR, name);
  return p;
}

pid_t hl_spawn(char *const argv[], char *const envp[], const char *log_path) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid != 0) return pid;
  /* A test that fails exits at once; its peers must not outlive it. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  if (log_path) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) { dup2(fd, 1); dup2(fd, 2); close(fd); }
  }
  for (int i = 0; envp && envp[i]; i++) putenv(envp[i]);
  signal(SIGPIPE, SIG_DFL);
  execvp(argv[0], argv); /* a name without '/' is looked up on PATH */
  fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

const char *hl_log_path(const char *tag, char *buf, size_t len) {
  static int counter;
  snprintf(buf, len, "%s/hookloop-%s-%d-%d.log", hl_tmp_base(), tag, (int)getpid(), ++counter);
  unlink(buf);
  return buf;
}

/* The port of the first "listening ..." line at or after offset, or -1. */
static int listening_port(const char *log_path, off_t offset) {
  FILE *f = fopen(log_path, "rb");
  if (!f) return -1;
  int port = -1;
  char line[1024];
  if (fseeko(f, offset, SEEK_SET) == 0)
    while (port < 0 && fgets(line, sizeof line, f)) {
      if (strncmp(line, "listening ", 10) != 0 || !strchr(line, '\n')) continue;
      const char *colon = strrchr(line, ':');
      port = atoi(colon ? colon + 1 : line + 10);
      if (port <= 0 || port > 65535) port = -1;
    }
  fclose(f);
  return port;
}

int hl_spawn_listening(char *const argv[], char *const envp[], const char *log_path, pid_t *pid, int timeout_ms) {
  struct stat st;
  off_t offset = stat(log_path, &st) == 0 ? st.st_size : 0; /* a restart appends to the same log */
  *pid = hl_spawn(argv, envp, log_path);
  if (*pid < 0) return -1;
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int port = listening_port(log_path, offset);
    if (port > 0) return port;
    int status;
    if (waitpid(*pid, &status, WNOHANG) == *pid) return -1;
    hl_sleep_ms(10);
  }
  kill(*pid, SIGKILL);
  waitpid(*pid, NULL, 0);
  return -1;
}

int hl_wait(pid_t pid, int timeout_ms) {
  int status = 0;
  for (int waited = 0;; waited += 10) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return -1;
    if (waited >= timeout_ms) break;
    hl_sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

void hl_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
}

int hl_count_fds(pid_t pid) {
  char path[64];
  if (pid) snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
  else snprintf(path, sizeof path, "/proc/self/fd");
  DIR *d = opendir(path);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return pid ? n : n - 1; /* our own count includes the directory being read */
}

int hl_wait_fds_at_most(pid_t pid, int want, int timeout_ms) {
  int n = hl_count_fds(pid);
  for (int waited = 0; n > want && waited < timeout_ms; waited += 20) {
    hl_sleep_ms(20);
    n = hl_count_fds(pid);
  }
  return n;
}

int hl_connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

/* Keeps what fits of n bytes just read at buf + *kept. */
static void keep_read(char *out, size_t cap, size_t *kept, const char *buf, size_t n) {
  size_t k = *kept + n < cap - 1 ? n : cap - 1 - *kept;
  memcpy(out + *kept, buf, k);
  *kept += k;
  out[*kept] = '\0';
}

long hl_exchange_until_eof(int port, const char *req, size_t req_len, char *out, size_t cap) {
  int fd = hl_connect_loopback(port);
  if (fd < 0) return -1;
  out[0] = '\0';
  size_t kept = 0;
  long total = -1;
  if (send(fd, req, req_len, MSG_NOSIGNAL) == (ssize_t)req_len) {
    char buf[16384];
    for (long got = 0;;) {
      ssize_t r = read(fd, buf, sizeof buf);
      if (r == 0) { total = got; break; }
      if (r < 0) break; /* the receive timeout: the server kept the connection open */
      keep_read(out, cap, &kept, buf, (size_t)r);
      got += r;
    }
  }
  close(fd);
  return total;
}

long hl_send_body_until_eof(int port, const char *head, size_t body_len, char *out, size_t cap, size_t *sent) {
  *sent = 0;
  out[0] = '\0';
  int fd = hl_connect_loopback(port);
  if (fd < 0) return -1;
  long total = -1;
  if (send(fd, head, strlen(head), MSG_NOSIGNAL) != (ssize_t)strlen(head)) {
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  static char chunk[65536];
  memset(chunk, 'x', sizeof chunk);
  size_t kept = 0;
  bool sending = body_len > 0;
  for (long got = 0;;) {
    struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (sending ? POLLOUT : 0))};
    if (poll(&p, 1, 5000) <= 0) break;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[16384];
      ssize_t r = read(fd, buf, sizeof buf);
      if (r == 0) { total = got; break; }
      if (r < 0 && errno != EAGAIN) break;
      if (r > 0) { keep_read(out, cap, &kept, buf, (size_t)r); got += r; }
      continue; /* reading first: the answer and EOF are what the client waits for */
    }
    if (p.revents & POLLOUT) {
      size_t n = body_len - *sent < sizeof chunk ? body_len - *sent : sizeof chunk;
      ssize_t w = send(fd, chunk, n, MSG_NOSIGNAL);
      if (w > 0) *sent += (size_t)w;
      else if (w < 0 && errno != EAGAIN) sending = false; /* the server stopped reading */
      if (*sent == body_len) sending = false;
    }
  }
  close(fd);
  return total;
}

static void expect_closed_after(int port, const char *req, size_t len, const char *status, int round) {
  char buf[4096];
  long n = hl_exchange_until_eof(port, req, len, buf, sizeof buf);
  HL_ASSERT_MSG(n > 0, "round %d: no EOF after the answer to \"%.30s\"", round, req);
  HL_ASSERT_MSG(strncmp(buf, status, strlen(status)) == 0, "round %d: \"%.30s\" got %.40s", round, req, buf);
  HL_ASSERT_MSG(strstr(buf, "\r\nConnection: close\r\n") != NULL, "round %d: %s", round, buf);
}

void hl_closing_requests(int port, int rounds, const char *path, const char *post_path, size_t over_limit) {
  char close_req[512], http10[512], too_big[512], many[4096];
  int cl = snprintf(close_req, sizeof close_req, "GET %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", path);
  int hl = snprintf(http10, sizeof http10, "GET %s HTTP/1.0\r\n\r\n", path);
  int tl = snprintf(too_big, sizeof too_big, "POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
                    post_path, over_limit);
  static const char garbage[] = "THIS IS NOT HTTP\r\n\r\n";
  size_t ml = (size_t)snprintf(many, sizeof many, "GET %s HTTP/1.1\r\nHost: t\r\n", path);
  for (int i = 0; i < 101; i++) ml += (size_t)snprintf(many + ml, sizeof many - ml, "X-%d: v\r\n", i);
  ml += (size_t)snprintf(many + ml, sizeof many - ml, "\r\n");
  for (int i = 0; i < rounds; i++) {
    expect_closed_after(port, close_req, (size_t)cl, "HTTP/1.1 200 ", i);
    expect_closed_after(port, http10, (size_t)hl, "HTTP/1.1 200 ", i);
    expect_closed_after(port, garbage, sizeof garbage - 1, "HTTP/1.1 400 ", i);
    expect_closed_after(port, too_big, (size_t)tl, "HTTP/1.1 413 ", i);
    expect_closed_after(port, many, ml, "HTTP/1.1 431 ", i);
  }
}

#include <curl/curl.h>
#include <strings.h>

typedef struct { char *data; size_t len; const char *hname; char *hout; size_t hlen; } http_acc;

static size_t acc_body(char *p, size_t s, size_t n, void *u) {
  http_acc *a = u;
  size_t len = s * n;
  a->data = realloc(a->data, a->len + len + 1);
  memcpy(a->data + a->len, p, len);
  a->len += len;
  a->data[a->len] = '\0';
  return len;
}

static size_t acc_hdr(char *p, size_t s, size_t n, void *u) {
  http_acc *a = u;
  size_t len = s * n, nl = a->hname ? strlen(a->hname) : 0;
  if (a->hname && len > nl + 1 && strncasecmp(p, a->hname, nl) == 0 && p[nl] == ':') {
    const char *v = p + nl + 1;
    while (*v == ' ') v++;
    size_t vl = (size_t)(p + len - v);
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n')) vl--;
    if (vl >= a->hlen) vl = a->hlen - 1;
    memcpy(a->hout, v, vl);
    a->hout[vl] = '\0';
  }
  return len;
}

long hl_http_hdr(const char *method, const char *url, const char *body, size_t body_len,
                 const char *const *headers, char **resp, const char *hdr_name, char *hdr_out,
                 size_t hdr_len) {
  CURL *e = curl_easy_init();
  http_acc acc = {NULL, 0, hdr_name, hdr_out, hdr_len};
  struct curl_slist *h = NULL;
  for (size_t i = 0; headers && headers[i]; i++) h = curl_slist_append(h, headers[i]);
  if (body) {
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
  }
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, acc_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &acc);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, acc_hdr);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &acc);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  long code = 0;
  if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(h);
  curl_easy_cleanup(e);
  if (resp) *resp = acc.data ? acc.data : strdup("");
  else free(acc.data);
  return code;
}

long hl_http(const char *method, const char *url, const char *body, size_t body_len,
             const char *const *headers, char **resp) {
  return hl_http_hdr(method, url, body, body_len, headers, resp, NULL, NULL, 0);
}

static int read_line(int fd, char *buf, size_t n, int timeout_ms) {
  size_t o = 0;
  for (int waited = 0; o + 1 < n && waited < timeout_ms;) {
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r == 1) {
      if (c == '\n') break;
      buf[o++] = c;
    } else if (r == 0) {
      break;
    } else {
      hl_sleep_ms(5);
      waited += 5;
    }
  }
  buf[o] = '\0';
  return (int)o;
}

int hl_mock_kafka_start(hl_mock_kafka *m, int brokers) {
  int in[2], out[2];
  if (pipe(in) != 0 || pipe(out) != 0) return -1;
  char nb[16];
  snprintf(nb, sizeof nb, "%d", brokers);
  m->pid = fork();
  if (m->pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execl(hl_bin_path("tools/mock_kafka/hl_mock_kafka"), "hl_mock_kafka", "--brokers", nb, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  m->in_fd = in[1];
  m->out_fd = out[0];
  fcntl(m->out_fd, F_SETFL, O_NONBLOCK);
  char line[600];
  read_line(m->out_fd, line, sizeof line, 10000);
  if (strncmp(line, "bootstrap ", 10) != 0) return -1;
  snprintf(m->bootstrap, sizeof m->bootstrap, "%s", line + 10);
  return 0;
}

int hl_mock_kafka_cmd(hl_mock_kafka *m, const char *cmd) {
  char line[600];
  snprintf(line, sizeof line, "%s\n", cmd);
  if (write(m->in_fd, line, strlen(line)) != (ssize_t)strlen(line)) return -1;
  read_line(m->out_fd, line, sizeof line, 5000);
  return strcmp(line, "ok") == 0 ? 0 : -1;
}

void hl_mock_kafka_stop(hl_mock_kafka *m) {
  if (m->pid <= 0) return;
  close(m->in_fd); /* EOF ends it */
  if (hl_wait(m->pid, 5000) < 0) kill(m->pid, SIGKILL);
  close(m->out_fd);
  m->pid = 0;
}

pid_t hl_aws_peer_start(int *port, const char *const *args) {
  char listen[64], log[600];
  snprintf(listen, sizeof listen, "127.0.0.1:%d", *port);
  char *argv[32];
  size_t n = 0;
  argv[n++] = (char *)hl_bin_path("tools/aws_peer/hl_aws_peer");
  argv[n++] = (char *)"--listen";
  argv[n++] = listen;
  for (size_t i = 0; args && args[i] && n < 31; i++) argv[n++] = (char *)args[i];
  argv[n] = NULL;
  pid_t pid;
  int got = hl_spawn_listening(argv, NULL, hl_log_path("aws-peer", log, sizeof log), &pid, 5000);
  char *out = got < 0 ? hl_read_file(log, NULL) : NULL;
  unlink(log);
  HL_ASSERT_MSG(got > 0, "the AWS test peer did not start on %s: %s", listen, out ? out : "");
  *port = got;
  return pid;
}

/* dynalite's own command line cannot listen on port 0 (it takes 0 for "the
 * default, 4567"), so its module is started here and says which port it got. */
static const char dynalite_js[] =
    "var d = require(process.argv[1])({createTableMs: +process.argv[3], deleteTableMs: 0, updateTableMs: 0});"
    "d.listen(+process.argv[2], '127.0.0.1', function () { console.log('listening 127.0.0.1:' + d.address().port); });";

int hl_dynalite_start(hl_dynalite *d, int create_table_ms) {
  char mod[512];
  snprintf(mod, sizeof mod, "%s/tests/node_modules/dynalite", HL_SOURCE_DIR);
  if (access(mod, R_OK) != 0) {
    fprintf(stderr, "dynalite is not installed (%s): run `make deps-test` (npm ci in tests/)\n", mod);
    return -1;
  }
  char port[16], ms[16], log[600];
  snprintf(port, sizeof port, "%d", d->port);
  snprintf(ms, sizeof ms, "%d", create_table_ms);
  char *argv[] = {(char *)"node", (char *)"-e", (char *)dynalite_js, mod, port, ms, NULL};
  int got = hl_spawn_listening(argv, NULL, hl_log_path("dynalite", log, sizeof log), &d->pid, 15000);
  if (got < 0) {
    char *out = hl_read_file(log, NULL);
    fprintf(stderr, "dynalite did not start:\n%s\n", out ? out : "");
    free(out);
    unlink(log);
    d->pid = 0;
    return -1;
  }
  unlink(log); /* it keeps writing to the open file, which nobody reads */
  d->port = got;
  snprintf(d->endpoint, sizeof d->endpoint, "http://127.0.0.1:%d", d->port);
  return 0;
}

void hl_dynalite_stop(hl_dynalite *d) {
  if (d->pid > 0) {
    kill(d->pid, SIGTERM);
    hl_wait(d->pid, 3000);
  }
  d->pid = 0;
}
