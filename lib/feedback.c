/* feedback: to be written */
#include "internal.h"
