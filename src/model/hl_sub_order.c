#include "model/hl_sub_order.h"

#include <string.h>

bool hl_sub_rec_fifo(const hl_sub_rec *r) { return r->ordering && strcmp(r->ordering, HL_SUB_ORDER_FIFO) == 0; }
