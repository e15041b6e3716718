/*
 * The routing layer: what the model may decide alone and what goes to a
 * person (route.c: calibrated thresholds, temperature scaling).  The top of
 * the library; uses any layer below.
 */
#ifndef HITL_ROUTE_H
#define HITL_ROUTE_H

#include "people/people.h"

#endif /* HITL_ROUTE_H */
