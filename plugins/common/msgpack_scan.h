/* msgpack_scan.h - a bounds check of one MessagePack object before msgpack-c
 * unpacks it: clear errors with offsets, and memory bounded by the input. */
#ifndef SLUICE_COMMON_MSGPACK_SCAN_H
#define SLUICE_COMMON_MSGPACK_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* msgpack-c's unpacker keeps 32 open containers at most. */
#define MSGPACK_SCAN_MAX_DEPTH 32

/* Walks the object that starts at p[0] without building anything. Returns 0
 * and the offset just past it in *end, or -1 with "msgpack: ... at byte N" in
 * err when it is truncated, uses the reserved byte 0xc1, nests deeper than
 * max_depth containers (<= MSGPACK_SCAN_MAX_DEPTH) or declares more elements
 * than bytes follow (so an unpacker never allocates more than ~24 bytes of
 * objects per input byte per level). */
int msgpack_scan(const uint8_t *p, size_t len, int max_depth, size_t *end, char *err,
                 size_t errlen);

#endif
