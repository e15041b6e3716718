/* What the machine offers the kernels: the instruction sets the CPU and the
 * OS support (picked at run time, so one build serves baseline x86-64 and
 * the newest cores alike), and how many CPUs are online. */
#include "base/base.h"

#include <unistd.h>

static int isa_cap = HITL__ISA_AVX512; /* lowered only by the test hook */

int hitl__isa_set_cap(int cap)
{
    int old = isa_cap;
    isa_cap = cap < HITL__ISA_PORTABLE ? HITL__ISA_PORTABLE
            : cap > HITL__ISA_AVX512 ? HITL__ISA_AVX512 : cap;
    return old;
}

int hitl__isa(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa_cap >= HITL__ISA_AVX512 && __builtin_cpu_supports("avx512f"))
        return HITL__ISA_AVX512;
    if (isa_cap >= HITL__ISA_AVX2 && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma"))
        return HITL__ISA_AVX2;
#endif
    return HITL__ISA_PORTABLE;
}

size_t hitl__cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (size_t)n : 1;
}
