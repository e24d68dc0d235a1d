/* hl_api_stats.h — GET /admin/stats: the figures of /metrics as JSON, with
 * the backlog and, per subscription, the deliveries in flight and held in
 * memory (the console's Overview reads it). Routed by hl_api.c's table. */
#ifndef HL_API_STATS_H
#define HL_API_STATS_H

#include "api/hl_api.h"

void hl_api_stats(hl_api *a, hl_http_req *req);

#endif
