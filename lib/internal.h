/*
 * Everything the library's modules share, for the test programs that look
 * inside (struct layouts, kernel hooks).  The modules themselves include
 * only the header of their own layer, which includes the layers below it:
 * base -> data -> learn -> select -> people -> route (lib/README).
 */
#ifndef HITL_INTERNAL_H
#define HITL_INTERNAL_H

#include "route/route.h"

#endif /* HITL_INTERNAL_H */
