/* strategy: to be written */
#include "internal.h"
