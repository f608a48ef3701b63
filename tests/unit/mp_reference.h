/* mp_reference.h - the msgpack mapping decided by msgpack-c, the reference our own reader
 * and writer (plugins/common/msgpack_*.c) are checked against, by test_msgpack_reference
 * and fuzz_msgpack. */
#ifndef SLUICE_TEST_MP_REFERENCE_H
#define SLUICE_TEST_MP_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "sluice/value.h"

enum mp_ref_verdict { MP_REF_REFUSED = 0, MP_REF_ACCEPTED = 1, MP_REF_UNSAFE = -1 };

/* What the codec must make of data[0..len) (ext: enum mp_ext_mode): msgpack_unpack
 * must take exactly all of it, every map key must be a str, bin or integer, and with
 * MP_EXT_REFUSE no ext may appear; then *out is the object mapped as docs/codecs.md
 * says, in a. MP_REF_UNSAFE when some byte could be a container header declaring more
 * elements than len (msgpack-c allocates for them before it reads them): not judged. */
enum mp_ref_verdict mp_ref_decode(int ext, msgpack_zone *z, struct sl_arena *a, const uint8_t *data,
                                  size_t len, struct sl_value *out);

/* Checks our reader and writer against the reference on data: the same verdict,
 * the same record, and our encoding of it unpacked by msgpack-c maps back to the
 * same record. Returns NULL when they agree (or the input is unsafe to judge),
 * else what differs. */
const char *mp_ref_check(int ext, const uint8_t *data, size_t len);

#endif
