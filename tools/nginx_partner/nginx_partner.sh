#!/bin/sh
# nginx_partner.sh DIR CERT KEY — Debian's nginx as a fast TLS partner on
# loopback, in the foreground (one process, no daemon), for the HTTP/2 test
# (tests/e2e/test_tls.c) and bench/h2/run.sh. Writes DIR/nginx.conf, then
# execs nginx with everything (pid, logs, temporary files) under DIR.
#
# Environment (ports on 127.0.0.1; a server is left out when its port is unset):
#   H2_PORT      HTTP/2 over TLS (ALPN h2) only: a POST is answered 204 once
#                its body is read, a request that arrives over HTTP/1.1 505;
#                under /early/ 204 at once, before the body is read (nginx
#                then resets the stream, RFC 9113 section 8.1)
#   H1_PORT      HTTP/1.1 over TLS (nginx offers no h2 there): 204
#   STATUS_PORT  plain http: GET answers nginx's stub_status (its "requests"
#                count includes the status requests themselves)
#   ACCESS_LOG   a file getting "<protocol> <connection serial> <status> <uri>"
#                per request; none when unset
# Keep-alive connections are never closed for their request count (nginx's
# keepalive_requests, 1000 by default, also caps requests per h2 connection).
set -eu
dir=$1 cert=$2 key=$3
mkdir -p "$dir/tmp"
log="access_log off;"
[ -n "${ACCESS_LOG:-}" ] && log="log_format proto '\$server_protocol \$connection \$status \$request_uri'; access_log $ACCESS_LOG proto;"
{
  cat <<CONF
load_module /usr/lib/nginx/modules/ngx_http_echo_module.so;
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  $log
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ssl_certificate $cert;
  ssl_certificate_key $key;
  ssl_protocols TLSv1.2 TLSv1.3;
CONF
  [ -n "${H2_PORT:-}" ] && cat <<CONF
  server {
    listen 127.0.0.1:$H2_PORT ssl http2;
    location / {
      if (\$server_protocol != "HTTP/2.0") { return 505; }
      echo_read_request_body;
      echo_status 204;
    }
    location /early/ { return 204; }
  }
CONF
  [ -n "${H1_PORT:-}" ] && cat <<CONF
  server {
    listen 127.0.0.1:$H1_PORT ssl;
    location / {
      echo_read_request_body;
      echo_status 204;
    }
  }
CONF
  [ -n "${STATUS_PORT:-}" ] && cat <<CONF
  server {
    listen 127.0.0.1:$STATUS_PORT;
    location / { stub_status; }
  }
CONF
  echo "}"
} >"$dir/nginx.conf"
exec /usr/sbin/nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/nginx-error.log"
