/* json_space.h - RFC 8259 whitespace, for the JSON parsers built on yajl (the json codec's
 * fallback, sluice.json in Lua): yajl also takes vertical tab and form feed. */
#ifndef SLUICE_COMMON_JSON_SPACE_H
#define SLUICE_COMMON_JSON_SPACE_H

#include <stddef.h>
#include <stdint.h>

/* The first \v or \f in text, or NULL. Neither is valid anywhere in JSON
 * (between tokens only space, tab, LF and CR are; in strings they must be
 * escaped), so its offset is where the text stops being JSON. */
const uint8_t *json_bad_space(const uint8_t *text, size_t len);

#endif
