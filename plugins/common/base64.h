/* base64.h - standard base64 (RFC 4648, padded) for codecs that must carry bytes as text. */
#ifndef SLUICE_COMMON_BASE64_H
#define SLUICE_COMMON_BASE64_H

#include <stddef.h>
#include <stdint.h>

/* Characters base64_encode writes for n input bytes. */
static inline size_t base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Writes base64_encoded_len(n) characters of in[0..n) to out, no terminator.
 * Returns out + that length. Cannot fail. */
char *base64_encode(char *out, const uint8_t *in, size_t n);
/* Decodes n characters of padded base64 into out (room for n / 4 * 3
 * bytes). Returns the bytes written, or -1 when in is not base64. */
long base64_decode(uint8_t *out, const char *in, size_t n);

#endif
