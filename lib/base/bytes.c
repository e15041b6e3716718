/* Bytes on disk and in saved buffers: little-endian fields (so a file
 * written on one machine reads on any other) and CRC-32 (zlib's), the
 * checksum of saved models and of journal records alike. */
#include "base/base.h"

#include <string.h>
#include <zlib.h>

unsigned char *hitl__put_le(unsigned char *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        *p++ = (unsigned char)(v >> (8 * i));
    return p;
}

uint64_t hitl__get_le(const unsigned char **p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)(*p)[i] << (8 * i);
    *p += bytes;
    return v;
}

unsigned char *hitl__put_f64(unsigned char *p, double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return hitl__put_le(p, u, 8);
}

double hitl__get_f64(const unsigned char **p)
{
    uint64_t u = hitl__get_le(p, 8);
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

uint32_t hitl__crc32(const void *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), p, (z_size_t)n);
}
