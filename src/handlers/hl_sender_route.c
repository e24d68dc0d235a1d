#include "handlers/hl_sender_route.h"

#include "common/hl_common.h"

typedef struct {
  hl_sender base;
  hl_sender *http, *aws;
} route_sender;

/* A subscription whose stored destination did not parse has rec.url NULL
 * and dest NULL: the AWS sender fails it with the reason. */
static hl_sender *pick(route_sender *r, const hl_send_req *req) {
  return req->sub->rec.destination_json ? r->aws : r->http;
}

static void route_send(hl_sender *base, hl_send_req *req) {
  hl_sender *s = pick((route_sender *)base, req);
  s->vt->send(s, req);
}

static void route_cancel(hl_sender *base, hl_send_req *req) {
  hl_sender *s = pick((route_sender *)base, req);
  s->vt->cancel(s, req);
}

static void route_close(hl_sender *base) {
  route_sender *r = (route_sender *)base;
  r->http->vt->close(r->http);
  r->aws->vt->close(r->aws);
  hl_free(r);
}

static void route_render_metrics(const hl_sender *base, hl_buf *out) {
  const route_sender *r = (const route_sender *)base;
  if (r->http->vt->render_metrics) r->http->vt->render_metrics(r->http, out);
  if (r->aws->vt->render_metrics) r->aws->vt->render_metrics(r->aws, out);
}

static const hl_sender_vt route_vt = {route_send, route_cancel, route_close, route_render_metrics};

hl_sender *hl_sender_route_create(hl_sender *http, hl_sender *aws) {
  route_sender *r = hl_calloc(1, sizeof *r);
  r->base.vt = &route_vt;
  r->http = http;
  r->aws = aws;
  return &r->base;
}
