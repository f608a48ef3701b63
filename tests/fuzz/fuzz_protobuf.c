/* fuzz_protobuf.c - libFuzzer target for the protobuf codec on tests/data/proto/shop.proto
 * (a recursive schema with every feature): any input decodes or is refused with a one-line
 * "protobuf: " reason, as shop.v1.Order and as shop.v1.LogLine; what decodes encodes, and
 * the encoding decodes to an equal record and encodes to the same bytes. The codec's
 * decoder and encoder are also checked against protobuf-c, the reference (pb_reference.h):
 * both accept the same inputs, and the encoder writes what protobuf-c packs.
 * Build and run: tests/fuzz/run.sh protobuf [seconds]   (needs protoc, protoc-c)
 * fuzz-gen: protoc-c --c_out=$GEN -I/usr/include /usr/include/google/protobuf/descriptor.proto
 * fuzz-gen: protoc --include_imports -o$GEN/shop.desc -Itests/data/proto shop.proto
 * fuzz-sources: plugins/codec_protobuf/loader.c plugins/codec_protobuf/schema.c
 * fuzz-sources: plugins/codec_protobuf/library.c plugins/codec_protobuf/decode.c
 * fuzz-sources: plugins/codec_protobuf/encode.c
 * fuzz-sources: plugins/codec_protobuf/value.c plugins/common/utf8.c plugins/common/base64.c
 * fuzz-sources: $GEN/google/protobuf/descriptor.pb-c.c
 * fuzz-cflags: -Iplugins/codec_protobuf -Iplugins/common -I$GEN -DFUZZ_GEN="$GEN"
 * fuzz-pkgs: libprotobuf-c */
#include "pb_fuzz.h"
#include "pb_reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct pb_schema order, logline;
    static bool ready;
    if (!ready) {
        pb_fuzz_schema(&order, FUZZ_GEN "/shop.desc", "shop.v1.Order");
        pb_fuzz_schema(&logline, FUZZ_GEN "/shop.desc", "shop.v1.LogLine");
        ready = true;
    }
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    pb_fuzz_round_trip(&order, copy, size);
    pb_fuzz_round_trip(&logline, copy, size);
    pb_ref_check(&order, copy, size);
    pb_ref_check(&logline, copy, size);
    free(copy);
    return 0;
}
