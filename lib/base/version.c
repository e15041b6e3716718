/* The library's version, as it runs (the header says what a program was
 * compiled against). */
#include "base/base.h"

const char *hitl_version(void)
{
    return HITL_VERSION_STRING;
}

unsigned hitl_version_number(void)
{
    return HITL_VERSION_NUMBER;
}
