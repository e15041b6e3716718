/* pool: to be written */
#include "internal.h"
