/* json_space.c - see json_space.h. */
#include "json_space.h"

const uint8_t *json_bad_space(const uint8_t *text, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\v' || text[i] == '\f')
            return text + i;
    return NULL;
}
