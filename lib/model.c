/* model: to be written */
#include "internal.h"
