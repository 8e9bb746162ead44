/* test_value.c: the value tree (lib/util/value.c): construction, ownership,
 * lookup, deep copy and equality, JSON output, and the msgpack round trip
 * including what sv_from_msgpack must refuse. */
#include <msgpack.h>
#include <stdint.h>

#include "t.h"
#include "util/value.h"

/* JSON of v as a string (static buffer). */
static const char *json(const sv *v, int indent) {
    static char buf[4096];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    sv_write_json(v, f, indent);
    fclose(f);
    return buf;
}

static sv *sample(void) {
    sv *m = sv_map();
    const char *cls[] = {"cat", "dog", "tab\there \"q\""};
    double mean[] = {0.25, 0.5};
    int64_t ints[] = {-3, 0, INT64_MAX};
    sv_set(m, "kind", sv_str("dataset"));
    sv_set(m, "n", sv_int(-42));
    sv_set(m, "lr", sv_float(0.125));
    sv_set(m, "ok", sv_bool(1));
    sv_set(m, "none", sv_nil());
    sv_set(m, "classes", sv_str_array(cls, 3));
    sv_set(m, "mean", sv_float_array(mean, 2));
    sv_set(m, "ints", sv_int_array(ints, 3));
    sv *train = sv_map();
    sv_set(train, "lr", sv_float(0.5));
    sv_set(train, "epochs", sv_int(10));
    sv_set(m, "train", train);
    return m;
}

static void test_basics(void) {
    sv *m = sample();
    T_EQ(sv_len(m), 9, "map length");
    T_OK(!strcmp(sv_key(m, 0), "kind"), "insertion order kept");
    T_OK(!strcmp(sv_get_str(m, "kind", "x"), "dataset"), "get_str");
    T_EQ(sv_get_int(m, "n", 0), -42, "get_int");
    T_EQ(sv_get_int(m, "lr", 7), 7, "get_int of a float gives the default");
    T_NEAR(sv_get_float(m, "n", 0), -42.0, 0, 0, "get_float converts ints");
    T_EQ(sv_get_bool(m, "ok", 0), 1, "get_bool");
    T_OK(sv_get(m, "absent") == NULL, "absent key");
    T_NEAR(sv_get_float(sv_path(m, "train"), "lr", 0), 0.5, 0, 0, "nested map");
    T_EQ(sv_path(m, "train.epochs")->u.i, 10, "sv_path");
    T_OK(sv_path(m, "train.nothing") == NULL && sv_path(m, "kind.x") == NULL, "sv_path misses");
    T_EQ(sv_len(sv_get(m, "classes")), 3, "str array");
    T_OK(!strcmp(sv_at(sv_get(m, "classes"), 1)->u.str.s, "dog"), "sv_at");
    double d;
    T_OK(sv_number(sv_get(m, "lr"), &d) == 0 && d == 0.125, "sv_number float");
    T_OK(sv_number(sv_get(m, "kind"), &d) == -1, "sv_number of a string");
    /* sv_set replaces; sv_push/sv_set free the item on failure (ASan checks). */
    sv_set(m, "n", sv_int(5));
    T_EQ(sv_len(m), 9, "replace keeps the length");
    T_EQ(sv_get_int(m, "n", 0), 5, "replaced value");
    T_EQ(sv_push(m, sv_int(1)), -1, "push onto a map fails");
    T_EQ(sv_set((sv *)sv_get(m, "classes"), "k", sv_int(1)), -1, "set on an array fails");

    sv *c = sv_copy(m);
    T_OK(sv_equal(m, c), "copy is equal");
    sv_set(c, "lr", sv_int(1));
    T_OK(!sv_equal(m, c), "changed copy differs");
    sv *one_i = sv_int(1), *one_f = sv_float(1.0);
    T_OK(!sv_equal(one_i, one_f), "int 1 != float 1.0");
    sv_free(one_i);
    sv_free(one_f);
    sv_free(c);
    sv_free(m);
    sv_free(NULL);
    T_OK(1, "sv_free(NULL)");
}

static void test_json(void) {
    sv *m = sv_map();
    sv_set(m, "s", sv_str("a\"b\\c\n\x01"));
    sv_set(m, "f", sv_float(0.1));
    sv_set(m, "g", sv_float(2.0));
    sv_set(m, "inf", sv_float(1.0 / 0.0));
    sv_set(m, "i", sv_int(-7));
    int64_t a[] = {1, 2};
    sv_set(m, "a", sv_int_array(a, 2));
    sv_set(m, "e", sv_map());
    const char *want = "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"f\":0.1,\"g\":2.0,\"inf\":null,"
                       "\"i\":-7,\"a\":[1,2],\"e\":{}}";
    const char *got = json(m, -1);
    t_report(!strcmp(got, want), "json one line", "%s", got);
    got = json(m, 2);
    T_OK(strstr(got, "\n  \"s\": ") && strstr(got, "\"a\": [1, 2]"), "json indented");
    sv_free(m);
}

/* sv_from_json: what RFC 8259 allows, read back through sv_write_json;
 * what it does not, refused with the byte offset. */
static void test_json_read(void) {
    const char *text = " {\"s\":\"a\\\"b\\\\c\\n\\u0001\\u00e9\\ud83d\\ude00\", \"f\":0.1, \"g\":-2.5e3,"
                       "\"i\":-7,\"big\":9223372036854775808,\"a\":[1,[],{}],\"t\":true,\"n\":null}\n";
    ssl_err err = {0};
    sv *v = sv_from_json(text, strlen(text), &err);
    T_OK(v != NULL, "json read: accepted");
    if (!v) { printf("  %s\n", err.msg); return; }
    T_OK(!strcmp(sv_get_str(v, "s", ""), "a\"b\\c\n\x01\xc3\xa9\xf0\x9f\x98\x80"),
         "json read: escapes, \\u00e9 and a surrogate pair to UTF-8");
    T_OK(sv_get(v, "i")->type == SV_INT && sv_get_int(v, "i", 0) == -7, "json read: int");
    T_OK(sv_get(v, "f")->type == SV_FLOAT && sv_get_float(v, "f", 0) == 0.1, "json read: float");
    T_OK(sv_get_float(v, "g", 0) == -2500, "json read: exponent");
    T_OK(sv_get(v, "big")->type == SV_FLOAT, "json read: an integer past int64 becomes a float");
    T_OK(sv_len(sv_get(v, "a")) == 3 && sv_get(v, "n")->type == SV_NIL && sv_get_bool(v, "t", 0),
         "json read: array, null, true");
    const char *back = json(v, -1);
    sv *w = sv_from_json(back, strlen(back), &err);
    T_OK(w && sv_equal(v, w), "json read: write and read again gives the same tree");
    sv_free(v);
    sv_free(w);
    static const struct { const char *text, *msg; } bad[] = {
        {"", "byte 0: unexpected end of text"},
        {"{\"a\":1,\"a\":2}", "byte 7: duplicate key"},
        {"{\"a\" 1}", "byte 5: expected ':' after a key"},
        {"[1,2", "byte 4: expected ',' or ']'"},
        {"{\"a\":1}x", "byte 7: text after the JSON value"},
        {"\"\\ud800\"", "lone surrogate"},
        {"\"\xff\"", "byte 1: invalid UTF-8 in a string"},
        {"\"\xc0\xaf\"", "invalid UTF-8"},
        {"\"a\tb\"", "control character"},
        {"01", "byte 1: text after the JSON value"},
        {"1.", "bad number"},
        {"-", "not a JSON value"},
        {"nul", "not a JSON value"},
        {"{\"a\\u0000\":1}", "NUL in a key"},
        {"\"abc", "unterminated string"},
        {"{1:2}", "expected a string key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[96];
        snprintf(name, sizeof name, "json read refuses '%s'", bad[i].text);
        v = sv_from_json(bad[i].text, strlen(bad[i].text), &err);
        t_report(!v && strstr(err.msg, bad[i].msg) != NULL, name, "%s", v ? "accepted" : err.msg);
        sv_free(v);
    }
    char deep[80];
    memset(deep, '[', 33);
    memset(deep + 33, ']', 33);
    v = sv_from_json(deep, 66, &err);
    T_OK(!v && strstr(err.msg, "32 deep"), "json read refuses 33 levels");
    v = sv_from_json(deep + 1, 64, &err);
    T_OK(v != NULL, "json read accepts 32 levels");
    sv_free(v);
    /* The length is the limit, not a NUL. */
    v = sv_from_json("[1]]", 3, &err);
    T_OK(v && sv_len(v) == 1, "json read stops at n");
    sv_free(v);
}

static void test_msgpack(void) {
    sv *m = sample();
    sv_set(m, "big", sv_int(INT64_MIN));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    T_EQ(sv_pack(m, &pk), 0, "sv_pack");
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    T_EQ(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS, "unpack");
    sv *back = sv_from_msgpack(&u.data);
    T_OK(back && sv_equal(m, back), "msgpack round trip");
    sv_free(back);
    sv_free(m);

    /* Refused: non-string keys, ext, nesting deeper than 32, uint64 > INT64_MAX. */
    const char *bad[4];
    size_t badn[4];
    msgpack_sbuffer b[4];
    for (int i = 0; i < 4; i++) {
        msgpack_sbuffer_init(&b[i]);
        msgpack_packer_init(&pk, &b[i], msgpack_sbuffer_write);
        if (i == 0) { msgpack_pack_map(&pk, 1); msgpack_pack_int(&pk, 1); msgpack_pack_int(&pk, 2); }
        if (i == 1) { msgpack_pack_ext(&pk, 1, 3); msgpack_pack_ext_body(&pk, "x", 1); }
        if (i == 2) { for (int d = 0; d < 40; d++) msgpack_pack_array(&pk, 1); msgpack_pack_nil(&pk); }
        if (i == 3) msgpack_pack_uint64(&pk, UINT64_MAX);
        bad[i] = b[i].data;
        badn[i] = b[i].size;
    }
    const char *names[] = {"refuses int map keys", "refuses ext", "refuses deep nesting",
                           "refuses uint64 above INT64_MAX"};
    for (int i = 0; i < 4; i++) {
        off = 0;
        sv *v = NULL;
        if (msgpack_unpack_next(&u, bad[i], badn[i], &off) == MSGPACK_UNPACK_SUCCESS)
            v = sv_from_msgpack(&u.data);
        T_OK(v == NULL, names[i]);
        sv_free(v);
        msgpack_sbuffer_destroy(&b[i]);
    }
    /* 30 levels is fine. */
    msgpack_sbuffer_init(&b[0]);
    msgpack_packer_init(&pk, &b[0], msgpack_sbuffer_write);
    for (int d = 0; d < 30; d++) msgpack_pack_array(&pk, 1);
    msgpack_pack_nil(&pk);
    off = 0;
    msgpack_unpack_next(&u, b[0].data, b[0].size, &off);
    sv *v = sv_from_msgpack(&u.data);
    T_OK(v != NULL, "accepts 30 levels");
    sv_free(v);
    msgpack_sbuffer_destroy(&b[0]);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

int main(void) {
    test_basics();
    test_json();
    test_json_read();
    test_msgpack();
    return t_done();
}
