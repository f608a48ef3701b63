// simd.cpp - the fast path of decode: simdjson's DOM parser, its tape copied into an sl_value
// tree. Whatever it refuses goes to the yajl path in decode.c, which decides and explains.
#include <cstring>
#include <new>

#include <simdjson.h>

#include "json.h"

using namespace simdjson;

// The parser's buffers take ~14 bytes per byte of capacity. Start small, grow by doubling;
// above KEEP_CAPACITY the parser is rebuilt after use, so one huge message does not pin memory.
static const size_t FIRST_CAPACITY = 4 * 1024;
static const size_t KEEP_CAPACITY = 1024 * 1024;

struct json_simd {
    dom::parser *parser;
    size_t max_depth;
};

extern "C" struct json_simd *json_simd_new(int max_depth)
{
    json_simd *s = new (std::nothrow) json_simd;
    if (!s)
        return nullptr;
    s->max_depth = (size_t)max_depth + 1; // simdjson counts the document itself as a level
    s->parser = new (std::nothrow) dom::parser;
    if (!s->parser || s->parser->allocate(FIRST_CAPACITY, s->max_depth) != SUCCESS) {
        delete s->parser;
        delete s;
        return nullptr;
    }
    return s;
}

extern "C" void json_simd_free(struct json_simd *s)
{
    if (!s)
        return;
    delete s->parser;
    delete s;
}

template <class C> static size_t count(C c)
{
    size_t n = 0;
    for (auto it = c.begin(); it != c.end(); ++it)
        n++;
    return n;
}

// Ints stay ints (INT64); integers past int64 (UINT64) and the rest are doubles, as in the
// yajl path. levels: how many more containers may open (max_depth bounds the recursion).
static bool convert(sl_arena *a, dom::element e, sl_value *v, size_t levels)
{
    *v = sl_value{};
    switch (e.type()) {
    case dom::element_type::NULL_VALUE:
        v->type = SL_NULL;
        return true;
    case dom::element_type::BOOL:
        v->type = SL_BOOL;
        v->u.b = e.get_bool().value_unsafe();
        return true;
    case dom::element_type::INT64:
        v->type = SL_INT;
        v->u.i = e.get_int64().value_unsafe();
        return true;
    case dom::element_type::UINT64:
        v->type = SL_DOUBLE;
        v->u.d = (double)e.get_uint64().value_unsafe();
        return true;
    case dom::element_type::DOUBLE:
        v->type = SL_DOUBLE;
        v->u.d = e.get_double().value_unsafe();
        return true;
    case dom::element_type::STRING: {
        std::string_view s = e.get_string().value_unsafe();
        v->type = SL_STRING;
        v->len = (uint32_t)s.size();
        v->u.str = sl_arena_strndup(a, s.data(), s.size());
        return v->u.str != nullptr;
    }
    case dom::element_type::ARRAY: {
        if (!levels) // simdjson lets an empty innermost container one level deeper
            return false;
        dom::array arr = e.get_array().value_unsafe();
        size_t n = arr.size();
        if (n == 0xFFFFFF) // simdjson saturates counts here: count them ourselves
            n = count(arr);
        v->type = SL_ARRAY;
        v->len = (uint32_t)n;
        if (!n)
            return true;
        v->u.items = (sl_value *)sl_arena_alloc(a, n * sizeof(sl_value));
        if (!v->u.items)
            return false;
        size_t i = 0;
        for (dom::element x : arr)
            if (!convert(a, x, &v->u.items[i++], levels - 1))
                return false;
        return true;
    }
    case dom::element_type::OBJECT: {
        if (!levels)
            return false;
        dom::object obj = e.get_object().value_unsafe();
        size_t n = obj.size();
        if (n == 0xFFFFFF)
            n = count(obj);
        v->type = SL_MAP;
        v->len = (uint32_t)n;
        if (!n)
            return true;
        v->u.members = (sl_member *)sl_arena_alloc(a, n * sizeof(sl_member));
        if (!v->u.members)
            return false;
        size_t i = 0;
        for (dom::key_value_pair kv : obj) {
            sl_member *m = &v->u.members[i++];
            m->key = sl_arena_strndup(a, kv.key.data(), kv.key.size());
            m->key_len = (uint32_t)kv.key.size();
            if (!m->key || !convert(a, kv.value, &m->value, levels - 1))
                return false;
        }
        return true;
    }
    }
    return false;
}

extern "C" int json_simd_decode(struct json_simd *s, struct sl_arena *a, const uint8_t *text,
                                size_t len, struct sl_value *out)
{
    int rc = -1;
    try {
        dom::element doc;
        size_t cap = s->parser->capacity();
        if (len > cap) {
            while (cap < len && cap < SIMDJSON_MAXSIZE_BYTES / 2)
                cap *= 2;
            if (s->parser->allocate(cap < len ? len : cap, s->max_depth) != SUCCESS)
                return -1;
        }
        if (s->parser->parse(text, len).get(doc) == SUCCESS)
            rc = convert(a, doc, out, s->max_depth - 1) ? 0 : -1;
        if (s->parser->capacity() > KEEP_CAPACITY) {
            dom::parser *fresh = new (std::nothrow) dom::parser;
            if (fresh && fresh->allocate(FIRST_CAPACITY, s->max_depth) == SUCCESS) {
                delete s->parser;
                s->parser = fresh;
            } else {
                delete fresh;
            }
        }
    } catch (...) { // nothing may unwind into C
        rc = -1;
    }
    return rc;
}
