/* hl_api_console.c — the OpenAPI document and the operator console, both
 * compiled into the binary (CMakeLists.txt's hl_embed), so serving them
 * reads no file and needs no network: bounded work on the loop.
 *
 * The console is a page that holds the admin token, so its answers forbid
 * everything a page does not need: scripts, styles, images and requests
 * only from this origin, no inline script or style (an injected string
 * could never run even if it reached the DOM as HTML), no framing
 * (clickjacking), no MIME sniffing, no Referer leaving the page. */
#include "api/hl_api_console.h"
#include "api/hl_api_int.h"
#include "common/hl_common.h"
#include "common/hl_embed.h"

#include <string.h>

extern const hl_embed_file hl_openapi_docs[];
extern const hl_embed_file hl_console_files[];

const char *hl_api_openapi_json(size_t *len) {
  const hl_embed_file *f = hl_embed_find(hl_openapi_docs, "openapi.json", 12);
  *len = f->len;
  return f->data;
}

#define HDR(n, v) {n, sizeof n - 1, v, sizeof v - 1}

void hl_api_openapi(hl_api *a, hl_http_req *req) {
  (void)a;
  size_t len;
  const char *doc = hl_api_openapi_json(&len);
  static const hl_http_header h[] = {
    HDR("content-type", "application/json"),
    HDR("cache-control", "no-cache"),
    HDR("x-content-type-options", "nosniff"),
  };
  hl_http_respond(req, 200, h, HL_ARRAY_SIZE(h), doc, len);
}

static const char *content_type(const char *name) {
  static const struct { const char *ext, *type; } types[] = {
    {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},
  };
  size_t n = strlen(name);
  for (size_t i = 0; i < HL_ARRAY_SIZE(types); i++) {
    size_t e = strlen(types[i].ext);
    if (n > e && strcmp(name + n - e, types[i].ext) == 0) return types[i].type;
  }
  return "application/octet-stream";
}

void hl_api_console_file(hl_api *a, hl_http_req *req, const char *file) {
  const hl_embed_file *f = NULL;
  if (a->opt.console) {
    if (!file) file = "index.html";
    f = hl_embed_find(hl_console_files, file, strlen(file));
  }
  if (!f) {
    hl_api_respond_error(req, 404, "not_found", a->opt.console ? "no such file in the console"
                                                               : "no such endpoint; see the API in the README", NULL);
    return;
  }
  const char *type = content_type(f->name);
  hl_http_header h[] = {
    {"content-type", 12, type, strlen(type)},
    HDR("content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    HDR("x-content-type-options", "nosniff"),
    HDR("referrer-policy", "no-referrer"),
    HDR("x-frame-options", "DENY"),
    HDR("cache-control", "no-cache"),
  };
  hl_http_respond(req, 200, h, HL_ARRAY_SIZE(h), f->data, f->len);
}
