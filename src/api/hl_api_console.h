/* hl_api_console.h — what the HTTP API serves to browsers and clients
 * besides JSON resources: the OpenAPI document describing the API
 * (docs/openapi.json, compiled in) and the operator console's static files
 * (console/, compiled in). Routed by hl_api.c's table. */
#ifndef HL_API_CONSOLE_H
#define HL_API_CONSOLE_H

#include <stddef.h>

#include "api/hl_api.h"

/* GET /openapi.json: the document, to anyone (it holds no secret). */
void hl_api_openapi(hl_api *a, hl_http_req *req);
/* GET /console (file NULL: index.html) and /console/{file}: the console's
 * files with a strict Content-Security-Policy, only when the console is on
 * (a->opt.console); 404 otherwise, as for any unknown path. */
void hl_api_console_file(hl_api *a, hl_http_req *req, const char *file);
/* The compiled-in OpenAPI document (static, NUL-terminated). */
const char *hl_api_openapi_json(size_t *len);

#endif
