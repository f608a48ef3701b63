/* fuzz_protobuf_loader.c - libFuzzer target for the descriptor-set loader: any bytes are
 * either refused with a "protobuf: " reason or give descriptors that protobuf-c can unpack
 * and pack with (checked by decoding a few payloads, the input itself among them, with
 * every message the seeds name). Seeds: descriptor sets of tests/data/proto.
 * Build and run: tests/fuzz/run.sh protobuf_loader [seconds]
 * fuzz-gen: protoc-c --c_out=$GEN -I/usr/include /usr/include/google/protobuf/descriptor.proto
 * fuzz-sources: plugins/codec_protobuf/loader.c plugins/codec_protobuf/schema.c
 * fuzz-sources: plugins/codec_protobuf/library.c plugins/codec_protobuf/decode.c
 * fuzz-sources: plugins/codec_protobuf/encode.c
 * fuzz-sources: plugins/codec_protobuf/value.c plugins/common/utf8.c plugins/common/base64.c
 * fuzz-sources: $GEN/google/protobuf/descriptor.pb-c.c
 * fuzz-cflags: -Iplugins/codec_protobuf -Iplugins/common -I$GEN
 * fuzz-pkgs: libprotobuf-c */
#include "pb_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *names[] = {"shop.v1.Order", "shop.v1.LogLine", "common.v1.Money",
                                  "shop.v1.Item"};
    /* Payloads of the seed schema: an Order with most fields, a LogLine, a Money. */
    static const uint8_t order[] = {0x08, 0x05, 0x72, 0x02, 0x68, 0x69, 0x8a, 0x01, 0x07, 0x0a,
                                    0x01, 0x41, 0x1a, 0x02, 0x0a, 0x00, 0x98, 0x01, 0x03, 0xb2,
                                    0x01, 0x05, 0x0a, 0x01, 0x61, 0x10, 0x01, 0xd0, 0x01, 0x2a};
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct pb_schema s = {0};
        char err[256];
        const ProtobufCMessageDescriptor *d =
            pb_load_descriptor_set(&s.mem, copy, size, names[i], err, sizeof(err));
        if (!d ||
            pb_schema_build(&s, d, i & 1 ? PB_NAMES_JSON : PB_NAMES_PROTO, err, sizeof(err)) < 0) {
            if (strncmp(err, "protobuf: ", 10) != 0)
                pb_fuzz_die("bad error text", err);
            pb_schema_free(&s);
            continue;
        }
        pb_fuzz_round_trip(&s, order, sizeof(order));
        pb_fuzz_round_trip(&s, copy, size);
        pb_schema_free(&s);
    }
    free(copy);
    return 0;
}
