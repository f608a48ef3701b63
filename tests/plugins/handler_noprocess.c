/* handler_noprocess - loader test: a handler without process. */
#include <sluice/sluice.h>

SL_PLUGIN_DEFINE = {
    SL_PLUGIN_HEADER,
    .kind = SL_KIND_HANDLER,
    .name = "noprocess",
    .version = "0.0.1",
    .doc = "a handler without process",
};
