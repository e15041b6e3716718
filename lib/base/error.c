/* Status names and the thread-local detail message. */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

#define HITL__MSG_MAX 512

static _Thread_local char hitl__msg[HITL__MSG_MAX];

const char *hitl_strerror(int status)
{
    switch (status) {
    case HITL_OK:        return "success";
    case HITL_EINVAL:    return "invalid argument";
    case HITL_ENOMEM:    return "out of memory";
    case HITL_ESTATE:    return "not allowed in the current state";
    case HITL_ENUMERIC:  return "NaN or Inf in input or result";
    case HITL_EIO:       return "input/output error";
    case HITL_EFORMAT:   return "corrupt or unsupported format";
    case HITL_ECALLBACK: return "callback failed";
    case HITL_ENOTFOUND: return "item not found";
    default:             return "unknown status";
    }
}

const char *hitl_error_message(void)
{
    return hitl__msg;
}

void hitl_error_clear(void)
{
    hitl__msg[0] = '\0';
}

int hitl__fail_in(int status, const char *fn, const char *fmt, ...)
{
    int len = snprintf(hitl__msg, sizeof hitl__msg, "%s: ", fn);
    if (len < 0 || (size_t)len >= sizeof hitl__msg)
        len = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hitl__msg + len, sizeof hitl__msg - (size_t)len, fmt, ap);
    va_end(ap);
    return status;
}

int hitl__fail_copy(int status, const char *message)
{
    snprintf(hitl__msg, sizeof hitl__msg, "%s", message);
    return status;
}
