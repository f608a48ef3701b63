/* utf8.h - strict UTF-8 checks (RFC 3629) shared by the codecs and the Lua handler. */
#ifndef SLUICE_COMMON_UTF8_H
#define SLUICE_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the well-formed UTF-8 sequence at p (no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 if it is not one. n > 0. */
size_t utf8_seq(const uint8_t *p, size_t n);
/* True when all n bytes are well-formed UTF-8. */
bool utf8_valid(const uint8_t *p, size_t n);

#endif
