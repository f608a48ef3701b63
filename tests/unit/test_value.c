/* test_value.c - record helpers (core/value.c) and message helpers (core/message.c):
 * map lookup, paths, equality, deep copy; headers, traceparent, derive and clone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"

/* ---- building records ---- */

static struct sl_value v_int(int64_t i)
{
    return (struct sl_value){.type = SL_INT, .u.i = i};
}

static struct sl_value v_double(double d)
{
    return (struct sl_value){.type = SL_DOUBLE, .u.d = d};
}

static struct sl_value v_str(struct sl_arena *a, const char *s)
{
    size_t n = strlen(s);
    return (struct sl_value){
        .type = SL_STRING, .len = (uint32_t)n, .u.str = sl_arena_strndup(a, s, n)};
}

static struct sl_value v_array(struct sl_arena *a, size_t n, const struct sl_value *items)
{
    struct sl_value v = {.type = SL_ARRAY, .len = (uint32_t)n};
    v.u.items = sl_arena_alloc(a, sizeof(*items) * (n ? n : 1));
    if (n)
        memcpy(v.u.items, items, sizeof(*items) * n);
    return v;
}

/* keys[i] -> vals[i] */
static struct sl_value v_map(struct sl_arena *a, size_t n, const char *const *keys,
                             const struct sl_value *vals)
{
    struct sl_value v = {.type = SL_MAP, .len = (uint32_t)n};
    v.u.members = sl_arena_alloc(a, sizeof(struct sl_member) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        v.u.members[i].key_len = (uint32_t)strlen(keys[i]);
        v.u.members[i].key = sl_arena_strndup(a, keys[i], v.u.members[i].key_len);
        v.u.members[i].value = vals[i];
    }
    return v;
}

/* {"user": {"id": 42, "name": "ann"}, "items": [{"name": "a"}, {"name": "b"}, 7],
 *  "n": 1.5, "flag": true, "nothing": null, "empty": [], "blob": bytes "x\0y"} */
static struct sl_value sample(struct sl_arena *a)
{
    struct sl_value user = v_map(a, 2, (const char *const[]){"id", "name"},
                                 (struct sl_value[]){v_int(42), v_str(a, "ann")});
    struct sl_value it0 =
        v_map(a, 1, (const char *const[]){"name"}, (struct sl_value[]){v_str(a, "a")});
    struct sl_value it1 =
        v_map(a, 1, (const char *const[]){"name"}, (struct sl_value[]){v_str(a, "b")});
    struct sl_value items = v_array(a, 3, (struct sl_value[]){it0, it1, v_int(7)});
    struct sl_value blob = {.type = SL_BYTES, .len = 3, .u.str = sl_arena_strndup(a, "x\0y", 3)};
    struct sl_value flag = {.type = SL_BOOL, .u.b = true};
    struct sl_value nothing = {.type = SL_NULL};
    struct sl_value empty = v_array(a, 0, NULL);
    return v_map(
        a, 8,
        (const char *const[]){"user", "items", "n", "flag", "nothing", "empty", "blob", "user"},
        (struct sl_value[]){user, items, v_double(1.5), flag, nothing, empty, blob, v_int(-1)});
}

/* ---- lookups ---- */

static void test_map_get(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    struct sl_value root = sample(&a);
    const struct sl_value *user = sl_map_get(&root, "user");
    assert_non_null(user);
    assert_int_equal(user->type, SL_MAP); /* the first of duplicate keys wins */
    assert_int_equal(sl_map_get(user, "id")->u.i, 42);
    assert_int_equal(sl_map_get(&root, "n")->type, SL_DOUBLE);
    assert_int_equal(sl_map_get(&root, "nothing")->type, SL_NULL);
    assert_null(sl_map_get(&root, "missing"));
    assert_null(sl_map_get(&root, "use")); /* no prefix matches */
    assert_null(sl_map_get(&root, "users"));
    assert_null(sl_map_get(&root, ""));
    assert_null(sl_map_get(sl_map_get(&root, "items"), "0")); /* not a map */
    assert_null(sl_map_get(sl_map_get(&root, "n"), "x"));
    assert_null(sl_map_get(NULL, "x"));
    sl_arena_free(&a);
}

/* sl_arena_alloc/strndup's inline path (value.h) and their slow path agree at the
 * edges: 0 bytes, exactly what is left, one byte more, sizes that cannot be. */
static void test_arena_edges(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    char *p = sl_arena_alloc(&a, 1), *q;
    assert_non_null(p);
    assert_int_equal((uintptr_t)p % 8, 0);
    p = sl_arena_alloc(&a, 0);
    q = sl_arena_alloc(&a, 0);
    assert_non_null(p);
    assert_true(p != q); /* distinct even for 0 bytes */
    size_t left = (size_t)(a.end - a.ptr);
    p = sl_arena_alloc(&a, left); /* exactly what is left: this chunk */
    assert_ptr_equal(a.ptr, a.end);
    memset(p, 'x', left);
    q = sl_arena_alloc(&a, 3); /* a new chunk */
    assert_non_null(q);
    assert_true(q < p || q >= p + left);
    left = (size_t)(a.end - a.ptr);
    char *s = sl_arena_strndup(&a, "abcdef", left >= 7 ? 6 : 0); /* room for the NUL too */
    assert_non_null(s);
    left = (size_t)(a.end - a.ptr);
    char big[4096];
    memset(big, 'y', sizeof(big));
    assert_true(left < sizeof(big));
    s = sl_arena_strndup(&a, big, left); /* the NUL does not fit: the slow path */
    assert_non_null(s);
    assert_int_equal(strlen(s), left);
    char *before = a.ptr;
    assert_null(sl_arena_alloc(&a, SIZE_MAX));
    assert_null(sl_arena_alloc(&a, SIZE_MAX - 3));
    assert_null(sl_arena_strndup(&a, big, SIZE_MAX)); /* n + 1 would wrap to 0 */
    assert_ptr_equal(a.ptr, before);
    sl_arena_free(&a);
}

static void test_value_path(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    struct sl_value root = sample(&a);
    const struct sl_value *v = sl_value_path(&root, "user.id");
    assert_non_null(v);
    assert_int_equal(v->u.i, 42);
    assert_string_equal(sl_value_path(&root, "user.name")->u.str, "ann");
    assert_string_equal(sl_value_path(&root, "items.0.name")->u.str, "a");
    assert_string_equal(sl_value_path(&root, "items.1.name")->u.str, "b");
    assert_int_equal(sl_value_path(&root, "items.2")->u.i, 7);
    assert_ptr_equal(sl_value_path(&root, "items"), sl_map_get(&root, "items"));
    assert_ptr_equal(sl_value_path(&root, ""), &root);
    /* missing */
    assert_null(sl_value_path(&root, "missing"));
    assert_null(sl_value_path(&root, "user.missing"));
    assert_null(sl_value_path(&root, "missing.id"));
    assert_null(sl_value_path(&root, "items.0.missing"));
    /* bad or out-of-range indexes */
    assert_null(sl_value_path(&root, "items.3"));
    assert_null(sl_value_path(&root, "items.99999999999999999999"));
    assert_null(sl_value_path(&root, "items.-1"));
    assert_null(sl_value_path(&root, "items.x"));
    assert_null(sl_value_path(&root, "items.1x"));
    assert_null(sl_value_path(&root, "items..name"));
    assert_null(sl_value_path(&root, "empty.0"));
    /* through a scalar */
    assert_null(sl_value_path(&root, "user.id.x"));
    assert_null(sl_value_path(&root, "n.0"));
    assert_null(sl_value_path(&root, "items.2.name"));
    /* a key longer than any path part */
    char longp[400];
    memset(longp, 'k', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_null(sl_value_path(&root, longp));
    assert_null(sl_value_path(NULL, "x"));
    sl_arena_free(&a);
}

static void test_value_equal(void **state)
{
    (void)state;
    struct sl_arena a = {0};
    struct sl_value x = sample(&a), y = sample(&a);
    assert_true(sl_value_equal(&x, &y));
    assert_true(sl_value_equal(&x, &x));
    /* ints and doubles are distinct types, even when numerically equal */
    struct sl_value i1 = v_int(1), d1 = v_double(1.0);
    assert_false(sl_value_equal(&i1, &d1));
    assert_false(sl_value_equal(&d1, &i1));
    struct sl_value i2 = v_int(2), d2 = v_double(1.0);
    assert_false(sl_value_equal(&i1, &i2));
    assert_true(sl_value_equal(&d1, &d2));
    /* strings vs bytes with the same content */
    struct sl_value s = v_str(&a, "ab"), b = s;
    b.type = SL_BYTES;
    assert_false(sl_value_equal(&s, &b));
    /* embedded NULs count */
    struct sl_value b1 = {.type = SL_BYTES, .len = 3, .u.str = "x\0y"};
    struct sl_value b2 = {.type = SL_BYTES, .len = 3, .u.str = "x\0z"};
    assert_false(sl_value_equal(&b1, &b2));
    struct sl_value s1 = v_str(&a, "ab"), s2 = v_str(&a, "abc");
    assert_false(sl_value_equal(&s1, &s2));
    /* bools, nulls */
    struct sl_value t = {.type = SL_BOOL, .u.b = true}, f = {.type = SL_BOOL, .u.b = false};
    struct sl_value n1 = {.type = SL_NULL}, n2 = {.type = SL_NULL};
    assert_false(sl_value_equal(&t, &f));
    assert_true(sl_value_equal(&n1, &n2));
    assert_false(sl_value_equal(&n1, &f));
    /* a deep change anywhere breaks equality */
    struct sl_value *name =
        (struct sl_value *)sl_value_path(&y, "items.1.name"); /* y is ours to modify */
    *name = v_str(&a, "c");
    assert_false(sl_value_equal(&x, &y));
    y = sample(&a);
    ((struct sl_value *)sl_value_path(&y, "user.id"))->u.i = 43;
    assert_false(sl_value_equal(&x, &y));
    /* map key names and lengths matter */
    y = sample(&a);
    y.u.members[2].key = "m";
    assert_false(sl_value_equal(&x, &y));
    y = sample(&a);
    y.len--;
    assert_false(sl_value_equal(&x, &y));
    /* arrays: length and element type */
    struct sl_value a1 = v_array(&a, 2, (struct sl_value[]){v_int(1), v_int(2)});
    struct sl_value a2 = v_array(&a, 2, (struct sl_value[]){v_int(1), v_double(2)});
    struct sl_value a3 = v_array(&a, 1, (struct sl_value[]){v_int(1)});
    assert_false(sl_value_equal(&a1, &a2));
    assert_false(sl_value_equal(&a1, &a3));
    struct sl_value e1 = v_array(&a, 0, NULL), e2 = v_map(&a, 0, NULL, NULL);
    assert_false(sl_value_equal(&e1, &e2)); /* [] is not {} */
    sl_arena_free(&a);
}

static void test_value_copy_is_deep(void **state)
{
    (void)state;
    struct sl_arena src = {0}, dst = {0}, ref = {0};
    struct sl_value orig = sample(&src);
    struct sl_value copy;
    assert_int_equal(sl_value_copy(&dst, &copy, &orig), 0);
    assert_true(sl_value_equal(&copy, &orig));
    /* nothing is shared with the source */
    assert_true(copy.u.members != orig.u.members);
    assert_true(copy.u.members[0].key != orig.u.members[0].key);
    assert_true(sl_value_path(&copy, "user.name")->u.str !=
                sl_value_path(&orig, "user.name")->u.str);
    assert_true(sl_value_path(&copy, "items")->u.items != sl_value_path(&orig, "items")->u.items);
    /* the copy outlives its source (ASan would see a shallow copy) */
    sl_arena_free(&src);
    struct sl_value expect = sample(&ref);
    assert_true(sl_value_equal(&copy, &expect));
    assert_int_equal(sl_value_path(&copy, "blob")->len, 3);
    assert_memory_equal(sl_value_path(&copy, "blob")->u.str, "x\0y", 4); /* NUL kept */
    assert_int_equal(sl_value_path(&copy, "empty")->len, 0);
    /* scalars copy as is */
    struct sl_value d = v_double(2.5), dc;
    assert_int_equal(sl_value_copy(&dst, &dc, &d), 0);
    assert_true(sl_value_equal(&d, &dc));
    sl_arena_free(&dst);
    sl_arena_free(&ref);
}

static void test_type_names(void **state)
{
    (void)state;
    assert_string_equal(sl_type_name(SL_NULL), "null");
    assert_string_equal(sl_type_name(SL_INT), "int");
    assert_string_equal(sl_type_name(SL_DOUBLE), "double");
    assert_string_equal(sl_type_name(SL_MAP), "map");
    assert_string_equal(sl_type_name(99), "unknown");
}

/* ---- message helpers ---- */

static void test_headers(void **state)
{
    (void)state;
    struct sl_msg *m = sl__msg_alloc();
    assert_null(sl_msg_header(m, "a"));
    assert_int_equal(sl_msg_set_header(m, "a", "1", 1), 0);
    assert_int_equal(sl_msg_set_header(m, "b", "two", 3), 0);
    assert_int_equal(m->n_headers, 2);
    const struct sl_header *h = sl_msg_header(m, "b");
    assert_non_null(h);
    assert_int_equal(h->value_len, 3);
    assert_memory_equal(h->value, "two", 3);
    /* replace keeps one header with the new value */
    assert_int_equal(sl_msg_set_header(m, "a", "eleven", 6), 0);
    assert_int_equal(m->n_headers, 2);
    h = sl_msg_header(m, "a");
    assert_int_equal(h->value_len, 6);
    assert_memory_equal(h->value, "eleven", 6);
    /* the value is copied, binary-safe, and NUL-terminated for convenience */
    char buf[4] = {'x', 0, 'y', 'z'};
    assert_int_equal(sl_msg_set_header(m, "bin", buf, 3), 0);
    buf[0] = 'Q';
    h = sl_msg_header(m, "bin");
    assert_int_equal(h->value_len, 3);
    assert_memory_equal(h->value, "x\0y\0", 4);
    /* empty value */
    assert_int_equal(sl_msg_set_header(m, "empty", "", 0), 0);
    assert_int_equal(sl_msg_header(m, "empty")->value_len, 0);
    /* many headers: the array grows (copied within the arena) and keeps the old ones */
    for (int i = 0; i < 40; i++) {
        char name[16], val[16];
        snprintf(name, sizeof(name), "h%d", i);
        snprintf(val, sizeof(val), "v%d", i);
        assert_int_equal(sl_msg_set_header(m, name, val, strlen(val)), 0);
    }
    assert_int_equal(m->n_headers, 44);
    assert_memory_equal(sl_msg_header(m, "h0")->value, "v0", 3);
    assert_memory_equal(sl_msg_header(m, "h39")->value, "v39", 4);
    assert_memory_equal(sl_msg_header(m, "a")->value, "eleven", 7);
    /* names are matched exactly */
    assert_null(sl_msg_header(m, "h"));
    assert_null(sl_msg_header(m, "A"));
    /* delete */
    sl_msg_del_header(m, "b");
    assert_null(sl_msg_header(m, "b"));
    assert_int_equal(m->n_headers, 43);
    assert_memory_equal(sl_msg_header(m, "h0")->value, "v0", 3);
    sl_msg_del_header(m, "nope");
    assert_int_equal(m->n_headers, 43);
    /* delete removes every header of that name (inputs may carry duplicates) */
    m->headers[1] = m->headers[0]; /* two "a" now, "bin" overwritten */
    sl_msg_del_header(m, "a");
    assert_null(sl_msg_header(m, "a"));
    assert_int_equal(m->n_headers, 41);
    /* add after delete */
    assert_int_equal(sl_msg_set_header(m, "b", "again", 5), 0);
    assert_memory_equal(sl_msg_header(m, "b")->value, "again", 5);
    sl__msg_recycle(m);
}

static void set_ids(struct sl_msg *m)
{
    for (int i = 0; i < 16; i++)
        m->trace_id[i] = (uint8_t)(0xf0 + i * 7);
    for (int i = 0; i < 8; i++)
        m->span_id[i] = (uint8_t)(0x01 + i * 33);
}

static void test_traceparent_round_trip(void **state)
{
    (void)state;
    struct sl_msg *m = sl__msg_alloc(), *n = sl__msg_alloc();
    set_ids(m);
    char tp[64];
    memset(tp, 'Z', sizeof(tp));
    sl_msg_traceparent(m, tp);
    assert_int_equal(strlen(tp), 55);
    assert_string_equal(tp, "00-f0f7fe050c131a21282f363d444b5259-0122436485a6c7e8-01");
    assert_int_equal(sl_msg_parse_traceparent(n, tp, strlen(tp)), 0);
    assert_memory_equal(n->trace_id, m->trace_id, 16);
    assert_memory_equal(n->span_id, m->span_id, 8);
    /* other valid values: sampled flag off, any lower-case hex */
    assert_int_equal(
        sl_msg_parse_traceparent(n, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", 55),
        0);
    sl_msg_traceparent(n, tp);
    assert_string_equal(tp, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    /* the length argument is honoured: no NUL needed after the value */
    char raw[55];
    memcpy(raw, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203332-01", 55);
    assert_int_equal(sl_msg_parse_traceparent(n, raw, sizeof(raw)), 0);
    assert_int_equal(n->span_id[7], 0x32);
    sl__msg_recycle(m);
    sl__msg_recycle(n);
}

static void test_traceparent_rejects_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",   /* short */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",   /* short span */
        "00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01",  /* dash moved */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* separator */
        "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01",  /* separator */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01",  /* separator */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  /* upper case */
        "00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01",  /* upper case */
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",  /* not hex */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333x-01",  /* not hex */
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  /* zero trace id */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  /* zero span id */
        "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* version not hex */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* version ff is invalid */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",  /* flags not hex */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-", /* version 00 is 55 chars */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x", /* trailing junk */
    };
    struct sl_msg *m = sl__msg_alloc();
    set_ids(m);
    uint8_t trace[16], span[8];
    memcpy(trace, m->trace_id, 16);
    memcpy(span, m->span_id, 8);
    int accepted = 0;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (sl_msg_parse_traceparent(m, bad[i], strlen(bad[i])) != -1) {
            print_error("accepted malformed traceparent \"%s\"\n", bad[i]);
            accepted++;
            set_ids(m);
            continue;
        }
        /* a rejected value leaves the ids alone */
        assert_memory_equal(m->trace_id, trace, 16);
        assert_memory_equal(m->span_id, span, 8);
    }
    sl__msg_recycle(m);
    assert_int_equal(accepted, 0);
}

/* A fake input that records deliveries, so a derived message's ack share shows. */
static struct sl_delivery delivered[16];
static size_t n_delivered;

static void record_delivered(void *ctx, const struct sl_delivery *d, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n && n_delivered < 16; i++)
        delivered[n_delivered++] = d[i];
}

static const struct sl_plugin fake_input_plugin = {SL_PLUGIN_HEADER, .kind = SL_KIND_INPUT,
                                                   .name = "fake", .delivered = record_delivered};

static struct sl_msg *parent_msg(struct sl_instance *in)
{
    struct sl_msg *p = sl__msg_alloc();
    sl_buf_set(&p->payload, "parent payload", 14);
    sl_buf_set(&p->key, "k1", 2);
    p->has_key = true;
    sl_msg_set_header(p, "h1", "v1", 2);
    sl_msg_set_header(p, "h2", "v2", 2);
    sl_msg_set_route(p, "orders");
    set_ids(p);
    p->source.name = "topic-a";
    p->source.partition = 3;
    p->source.offset = 1234;
    p->source.timestamp_ms = 99;
    sl_msg_set_source_attr(p, "exchange", "ex", 2);
    sl_msg_set_source_attr(p, "routing_key", "old", 3);
    sl_msg_set_source_attr(p, "routing_key", "rk.1", 4); /* replaces */
    p->cookie = 555;
    p->attempts = 2;
    struct sl_arena *a = &p->arena;
    p->record = sl_arena_alloc(a, sizeof(*p->record));
    *p->record =
        v_map(a, 2, (const char *const[]){"id", "tags"},
              (struct sl_value[]){v_int(9), v_array(a, 1, (struct sl_value[]){v_str(a, "t")})});
    sl__msg_private(p)->ack = sl__ack_new(in, p);
    atomic_fetch_add(&in->in_flight, 1); /* counted by the caller, as a sink does */
    return p;
}

static void assert_meta_inherited(const struct sl_msg *c, const struct sl_msg *p)
{
    assert_true(c->has_key);
    assert_int_equal(c->key.len, 2);
    assert_memory_equal(c->key.data, "k1", 2);
    assert_true(c->key.data != p->key.data);
    assert_int_equal(c->n_headers, 2);
    assert_memory_equal(sl_msg_header(c, "h1")->value, "v1", 2);
    assert_memory_equal(sl_msg_header(c, "h2")->value, "v2", 2);
    assert_true(sl_msg_header(c, "h1")->value != sl_msg_header(p, "h1")->value); /* own arena */
    assert_string_equal(c->route, "orders");
    assert_true(c->route != p->route);
    assert_memory_equal(c->trace_id, p->trace_id, 16);
    assert_memory_equal(c->span_id, p->span_id, 8);
    assert_string_equal(c->source.name, "topic-a");
    assert_int_equal(c->source.partition, 3);
    assert_int_equal(c->source.offset, 1234);
    assert_int_equal(c->n_source_attrs, 2);
    assert_memory_equal(sl_msg_source_attr(c, "exchange")->value, "ex", 3);
    assert_int_equal(sl_msg_source_attr(c, "routing_key")->value_len, 4);
    assert_memory_equal(sl_msg_source_attr(c, "routing_key")->value, "rk.1", 5);
    assert_true(sl_msg_source_attr(c, "exchange")->value !=
                sl_msg_source_attr(p, "exchange")->value); /* own arena */
    assert_null(sl_msg_source_attr(c, "queue"));
    assert_int_equal(c->cookie, 555);
    assert_ptr_equal(sl__msg_private(c)->ack, sl__msg_private(p)->ack);
}

static void test_derive(void **state)
{
    (void)state;
    struct sl_instance in = {.plugin = &fake_input_plugin, .name = "in", .kind = SL_KIND_INPUT};
    n_delivered = 0;
    struct sl_msg *p = parent_msg(&in);
    struct sl_msg *c1 = sl_msg_derive(p), *c2 = sl_msg_derive(p);
    assert_non_null(c1);
    assert_non_null(c2);
    assert_meta_inherited(c1, p);
    assert_meta_inherited(c2, p);
    /* payload and record start empty */
    assert_int_equal(c1->payload.len, 0);
    assert_null(c1->record);
    assert_int_equal(c1->attempts, 0);
    /* children are independent of the parent */
    sl_msg_set_header(p, "h1", "changed", 7);
    sl_buf_set(&p->key, "zz", 2);
    assert_memory_equal(sl_msg_header(c1, "h1")->value, "v1", 2);
    assert_memory_equal(c1->key.data, "k1", 2);
    /* the input hears of delivery only when the parent and both children are done */
    sl__msg_finish(p, false);
    sl__msg_finish(c1, false);
    sl__ack_flush();
    assert_int_equal(n_delivered, 0);
    assert_int_equal(in.in_flight, 1);
    sl__msg_finish(c2, true); /* one share dead-lettered: the whole is SL_ERROR */
    sl__ack_flush();
    assert_int_equal(n_delivered, 1);
    assert_int_equal(delivered[0].cookie, 555);
    assert_int_equal(delivered[0].partition, 3);
    assert_int_equal(delivered[0].offset, 1234);
    assert_int_equal(delivered[0].status, SL_ERROR);
    assert_int_equal(in.in_flight, 0);
}

static void test_clone(void **state)
{
    (void)state;
    struct sl_instance in = {.plugin = &fake_input_plugin, .name = "in", .kind = SL_KIND_INPUT};
    n_delivered = 0;
    struct sl_msg *p = parent_msg(&in);
    struct sl_msg *c = sl__msg_clone(p);
    assert_non_null(c);
    assert_meta_inherited(c, p);
    assert_int_equal(c->payload.len, 14);
    assert_memory_equal(c->payload.data, "parent payload", 14);
    assert_true(c->payload.data != p->payload.data);
    assert_int_equal(c->attempts, 2);
    assert_non_null(c->record);
    assert_true(sl_value_equal(c->record, p->record));
    assert_true(c->record != p->record);
    /* the parent goes back to the pool and is reused: the clone is unaffected */
    sl__msg_finish(p, false);
    struct sl_msg *reuse = sl__msg_alloc();
    sl_buf_set(&reuse->payload, "XXXXXXXXXXXXXXXXXXXX", 20);
    memset(sl_arena_alloc(&reuse->arena, 512), 'X', 512);
    assert_int_equal(reuse->n_source_attrs, 0); /* the pool forgot them */
    assert_memory_equal(c->payload.data, "parent payload", 14);
    assert_memory_equal(sl_msg_source_attr(c, "routing_key")->value, "rk.1", 5);
    assert_int_equal(sl_value_path(c->record, "id")->u.i, 9);
    assert_string_equal(sl_value_path(c->record, "tags.0")->u.str, "t");
    sl__ack_flush();
    assert_int_equal(n_delivered, 0); /* the clone still holds a share */
    sl__msg_finish(c, false);
    sl__ack_flush();
    assert_int_equal(n_delivered, 1);
    assert_int_equal(delivered[0].status, SL_OK);
    sl__msg_recycle(reuse);
    /* a message with no record or ack clones too */
    struct sl_msg *plain = sl__msg_alloc();
    sl_buf_set(&plain->payload, "p", 1);
    struct sl_msg *pc = sl__msg_clone(plain);
    assert_null(pc->record);
    assert_null(sl__msg_private(pc)->ack);
    assert_false(pc->has_key);
    assert_null(pc->route);
    assert_memory_equal(pc->payload.data, "p", 2);
    sl__msg_recycle(plain);
    sl__msg_recycle(pc);
}

static void test_route_and_buf(void **state)
{
    (void)state;
    struct sl_msg *m = sl__msg_alloc();
    char r[8] = "abc";
    assert_int_equal(sl_msg_set_route(m, r), 0);
    r[0] = 'X';
    assert_string_equal(m->route, "abc");
    struct sl_buf b = {0};
    assert_int_equal(sl_buf_append(&b, "ab", 2), 0);
    assert_int_equal(sl_buf_append(&b, "cd", 2), 0);
    assert_int_equal(b.len, 4);
    assert_string_equal((char *)b.data, "abcd"); /* kept NUL-terminated */
    assert_int_equal(sl_buf_set(&b, "x", 1), 0);
    assert_string_equal((char *)b.data, "x");
    assert_int_equal(sl_buf_reserve(&b, 10000), 0);
    assert_true(b.cap - b.len >= 10000);
    assert_int_equal(sl_buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 1);
    sl_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    sl__msg_recycle(m);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_get),
        cmocka_unit_test(test_arena_edges),
        cmocka_unit_test(test_value_path),
        cmocka_unit_test(test_value_equal),
        cmocka_unit_test(test_value_copy_is_deep),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_traceparent_round_trip),
        cmocka_unit_test(test_traceparent_rejects_malformed),
        cmocka_unit_test(test_derive),
        cmocka_unit_test(test_clone),
        cmocka_unit_test(test_route_and_buf),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    sl__ack_destroy();
    sl__pool_destroy();
    return rc;
}
