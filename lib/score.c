/* score: to be written */
#include "internal.h"
