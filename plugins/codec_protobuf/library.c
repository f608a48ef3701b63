/* library.c - a message descriptor from a protoc-c generated shared library, found by
 * the symbol protoc-c gives it: shop.v1.OrderItem -> shop__v1__order_item__descriptor. */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "pb.h"

/* protoc-c's FullNameToLower: pieces joined by "__", each CamelToLower'd (an
 * '_' before an upper-case letter that follows a lower-case one). */
static int symbol_name(const char *full, char *out, size_t len)
{
    size_t o = 0;
    bool was_upper = true, piece_start = true;
    for (const char *p = full; *p; p++) {
        if (o + 4 >= len)
            return -1;
        if (*p == '.') {
            out[o++] = '_';
            out[o++] = '_';
            was_upper = piece_start = true;
            continue;
        }
        bool up = isupper((unsigned char)*p);
        if (up && !was_upper && !piece_start)
            out[o++] = '_';
        out[o++] = up ? (char)tolower((unsigned char)*p) : *p;
        was_upper = up;
        piece_start = false;
    }
    return snprintf(out + o, len - o, "__descriptor") < (int)(len - o) ? 0 : -1;
}

const ProtobufCMessageDescriptor *pb_load_library(const char *path, const char *message,
                                                  void **handle, char *err, size_t errlen)
{
    char sym[512];
    if (symbol_name(message, sym, sizeof(sym)) < 0) {
        snprintf(err, errlen, "protobuf: message name too long");
        return NULL;
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "protobuf: cannot load library %s: %s", path, dlerror());
        return NULL;
    }
    const ProtobufCMessageDescriptor *d = dlsym(h, sym);
    if (!d || d->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC) {
        snprintf(err, errlen, "protobuf: %s has no message descriptor %s (for %s)", path, sym,
                 message);
        dlclose(h);
        return NULL;
    }
    *handle = h;
    return d;
}
