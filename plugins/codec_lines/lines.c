/* codec_lines - raw bytes: no decode, payload written as is. The engine
 * skips the decode stage entirely for it. */
#include <sluice/sluice.h>

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_CODEC,
    .name = "lines",
    .version = SLUICE_VERSION,
    .doc = "raw bytes, one message per line; records stay unset",
};
