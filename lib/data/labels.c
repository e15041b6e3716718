/* What a class label is: an index into a set of 2 .. 65536 classes.  The
 * checks every call that takes class counts or label arrays shares. */
#include "data/data.h"

#include <inttypes.h>

#define MAX_CLASSES 65536

int hitl__check_classes(const char *fn, size_t n_classes)
{
    if (n_classes < 2 || n_classes > MAX_CLASSES)
        return hitl__fail_in(HITL_EINVAL, fn,
                             "n_classes is %zu, not in [2, %d]", n_classes,
                             MAX_CLASSES);
    return HITL_OK;
}

int hitl__check_labels(const char *fn, const char *name, const int32_t *label,
                       size_t n, size_t n_classes)
{
    for (size_t i = 0; i < n; i++)
        if (label[i] < 0 || (size_t)label[i] >= n_classes)
            return hitl__fail_in(HITL_EINVAL, fn,
                                 "%s[%zu] is %" PRId32 ", not in [0, %zu)",
                                 name, i, label[i], n_classes);
    return HITL_OK;
}
