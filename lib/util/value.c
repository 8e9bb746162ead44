/* value.c: the JSON-like value tree of value.h (metadata and configuration).
 *
 * Arrays and maps share one growable list of items; maps also keep a
 * parallel list of owned key strings and keep insertion order (lookups are
 * linear: metadata maps are small). JSON output escapes strings per RFC 8259
 * and prints non-finite floats as null. The msgpack bridge maps nil, bool,
 * integers (positive ones above INT64_MAX are refused), float32/64, str and
 * bin (as str), arrays and string-keyed maps; anything else is refused. */
#include "util/value.h"

#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#define SV_MAX_DEPTH 32

static sv *sv_new(sv_type t) {
    sv *v = calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

sv *sv_nil(void) { return sv_new(SV_NIL); }
sv *sv_bool(int b) { sv *v = sv_new(SV_BOOL); if (v) v->u.b = !!b; return v; }
sv *sv_int(int64_t i) { sv *v = sv_new(SV_INT); if (v) v->u.i = i; return v; }
sv *sv_float(double f) { sv *v = sv_new(SV_FLOAT); if (v) v->u.f = f; return v; }
sv *sv_array(void) { return sv_new(SV_ARRAY); }
sv *sv_map(void) { return sv_new(SV_MAP); }

sv *sv_strn(const char *s, size_t len) {
    sv *v = sv_new(SV_STR);
    if (!v) return NULL;
    v->u.str.s = malloc(len + 1);
    if (!v->u.str.s) { free(v); return NULL; }
    if (len) memcpy(v->u.str.s, s, len);
    v->u.str.s[len] = 0;
    v->u.str.len = len;
    return v;
}

sv *sv_str(const char *s) { return sv_strn(s ? s : "", s ? strlen(s) : 0); }

sv *sv_float_array(const double *v, size_t n) {
    sv *a = sv_array();
    for (size_t i = 0; a && i < n; i++)
        if (sv_push(a, sv_float(v[i]))) { sv_free(a); a = NULL; }
    return a;
}

sv *sv_int_array(const int64_t *v, size_t n) {
    sv *a = sv_array();
    for (size_t i = 0; a && i < n; i++)
        if (sv_push(a, sv_int(v[i]))) { sv_free(a); a = NULL; }
    return a;
}

sv *sv_str_array(const char *const *v, size_t n) {
    sv *a = sv_array();
    for (size_t i = 0; a && i < n; i++)
        if (sv_push(a, sv_str(v[i]))) { sv_free(a); a = NULL; }
    return a;
}

/* Make room for one more item (and key, for maps). */
static int sv_grow(sv *c) {
    if (c->u.list.n < c->u.list.cap) return 0;
    size_t cap = c->u.list.cap ? 2 * c->u.list.cap : 4;
    sv **items = realloc(c->u.list.items, cap * sizeof *items);
    if (!items) return -1;
    c->u.list.items = items;
    if (c->type == SV_MAP) {
        char **keys = realloc(c->u.list.keys, cap * sizeof *keys);
        if (!keys) return -1;
        c->u.list.keys = keys;
    }
    c->u.list.cap = cap;
    return 0;
}

int sv_push(sv *array, sv *item) {
    if (!array || !item || array->type != SV_ARRAY || sv_grow(array)) {
        sv_free(item);
        return -1;
    }
    array->u.list.items[array->u.list.n++] = item;
    return 0;
}

int sv_set(sv *map, const char *key, sv *val) {
    if (!map || !key || !val || map->type != SV_MAP) { sv_free(val); return -1; }
    for (size_t i = 0; i < map->u.list.n; i++)
        if (!strcmp(map->u.list.keys[i], key)) {
            sv_free(map->u.list.items[i]);
            map->u.list.items[i] = val;
            return 0;
        }
    char *k = strdup(key);
    if (!k || sv_grow(map)) { free(k); sv_free(val); return -1; }
    map->u.list.keys[map->u.list.n] = k;
    map->u.list.items[map->u.list.n++] = val;
    return 0;
}

void sv_free(sv *v) {
    if (!v) return;
    if (v->type == SV_STR) free(v->u.str.s);
    if (v->type == SV_ARRAY || v->type == SV_MAP) {
        for (size_t i = 0; i < v->u.list.n; i++) {
            sv_free(v->u.list.items[i]);
            if (v->u.list.keys) free(v->u.list.keys[i]);
        }
        free(v->u.list.items);
        free(v->u.list.keys);
    }
    free(v);
}

sv *sv_copy(const sv *v) {
    if (!v) return NULL;
    switch (v->type) {
    case SV_NIL: return sv_nil();
    case SV_BOOL: return sv_bool(v->u.b);
    case SV_INT: return sv_int(v->u.i);
    case SV_FLOAT: return sv_float(v->u.f);
    case SV_STR: return sv_strn(v->u.str.s, v->u.str.len);
    case SV_ARRAY: {
        sv *a = sv_array();
        for (size_t i = 0; a && i < v->u.list.n; i++) {
            sv *c = sv_copy(v->u.list.items[i]);
            if (!c || sv_push(a, c)) { sv_free(a); return NULL; }
        }
        return a;
    }
    case SV_MAP: {
        sv *m = sv_map();
        for (size_t i = 0; m && i < v->u.list.n; i++) {
            sv *c = sv_copy(v->u.list.items[i]);
            if (!c || sv_set(m, v->u.list.keys[i], c)) { sv_free(m); return NULL; }
        }
        return m;
    }
    }
    return NULL;
}

int sv_equal(const sv *a, const sv *b) {
    if (!a || !b) return a == b;
    if (a->type != b->type) return 0;
    switch (a->type) {
    case SV_NIL: return 1;
    case SV_BOOL: return a->u.b == b->u.b;
    case SV_INT: return a->u.i == b->u.i;
    case SV_FLOAT:
        return a->u.f == b->u.f || (isnan(a->u.f) && isnan(b->u.f));
    case SV_STR:
        return a->u.str.len == b->u.str.len &&
               !memcmp(a->u.str.s, b->u.str.s, a->u.str.len);
    case SV_ARRAY:
    case SV_MAP:
        if (a->u.list.n != b->u.list.n) return 0;
        for (size_t i = 0; i < a->u.list.n; i++) {
            if (a->type == SV_MAP && strcmp(a->u.list.keys[i], b->u.list.keys[i]))
                return 0;
            if (!sv_equal(a->u.list.items[i], b->u.list.items[i])) return 0;
        }
        return 1;
    }
    return 0;
}

size_t sv_len(const sv *v) {
    return v && (v->type == SV_ARRAY || v->type == SV_MAP) ? v->u.list.n : 0;
}

const sv *sv_at(const sv *v, size_t i) {
    return i < sv_len(v) ? v->u.list.items[i] : NULL;
}

const char *sv_key(const sv *map, size_t i) {
    return map && map->type == SV_MAP && i < map->u.list.n ? map->u.list.keys[i] : NULL;
}

const sv *sv_get(const sv *map, const char *key) {
    if (!map || map->type != SV_MAP || !key) return NULL;
    for (size_t i = 0; i < map->u.list.n; i++)
        if (!strcmp(map->u.list.keys[i], key)) return map->u.list.items[i];
    return NULL;
}

const sv *sv_path(const sv *map, const char *dotted) {
    if (!dotted) return NULL;
    const sv *v = map;
    const char *p = dotted;
    char part[256];
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof part) return NULL;
        memcpy(part, p, n);
        part[n] = 0;
        v = sv_get(v, part);
        if (!v || !dot) return v;
        p = dot + 1;
    }
}

int64_t sv_get_int(const sv *map, const char *key, int64_t dflt) {
    const sv *v = sv_get(map, key);
    return v && v->type == SV_INT ? v->u.i : dflt;
}

double sv_get_float(const sv *map, const char *key, double dflt) {
    double d;
    return sv_number(sv_get(map, key), &d) ? dflt : d;
}

const char *sv_get_str(const sv *map, const char *key, const char *dflt) {
    const sv *v = sv_get(map, key);
    return v && v->type == SV_STR ? v->u.str.s : dflt;
}

int sv_get_bool(const sv *map, const char *key, int dflt) {
    const sv *v = sv_get(map, key);
    return v && v->type == SV_BOOL ? v->u.b : dflt;
}

int sv_number(const sv *v, double *out) {
    if (v && v->type == SV_INT) { *out = (double)v->u.i; return 0; }
    if (v && v->type == SV_FLOAT) { *out = v->u.f; return 0; }
    return -1;
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        default:
            if (c < 0x20 || c == 0x7f) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}

static void json_nl(FILE *f, int indent, int depth) {
    if (indent < 0) return;
    fputc('\n', f);
    for (int i = 0; i < indent * depth; i++) fputc(' ', f);
}

static void json_rec(const sv *v, FILE *f, int indent, int depth) {
    if (!v) { fputs("null", f); return; }
    switch (v->type) {
    case SV_NIL: fputs("null", f); break;
    case SV_BOOL: fputs(v->u.b ? "true" : "false", f); break;
    case SV_INT: fprintf(f, "%lld", (long long)v->u.i); break;
    case SV_FLOAT:
        if (!isfinite(v->u.f)) fputs("null", f);
        else {
            char buf[40];
            snprintf(buf, sizeof buf, "%.17g", v->u.f);
            /* Shortest form that reads back exactly. */
            for (int p = 1; p < 17; p++) {
                char t[40];
                snprintf(t, sizeof t, "%.*g", p, v->u.f);
                if (strtod(t, NULL) == v->u.f) { memcpy(buf, t, sizeof t); break; }
            }
            /* Keep it a float to a JSON reader. */
            if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
            fputs(buf, f);
        }
        break;
    case SV_STR: json_str(f, v->u.str.s, v->u.str.len); break;
    case SV_ARRAY:
    case SV_MAP: {
        int map = v->type == SV_MAP;
        size_t n = v->u.list.n;
        /* Arrays of scalars stay on one line even when indenting. */
        int flat = !map;
        for (size_t i = 0; flat && i < n; i++)
            if (v->u.list.items[i]->type == SV_ARRAY || v->u.list.items[i]->type == SV_MAP)
                flat = 0;
        fputc(map ? '{' : '[', f);
        for (size_t i = 0; i < n; i++) {
            if (i) fputc(',', f);
            if (flat) { if (i && indent >= 0) fputc(' ', f); }
            else json_nl(f, indent, depth + 1);
            if (map) {
                json_str(f, v->u.list.keys[i], strlen(v->u.list.keys[i]));
                fputs(indent >= 0 ? ": " : ":", f);
            }
            json_rec(v->u.list.items[i], f, indent, depth + 1);
        }
        if (n && !flat) json_nl(f, indent, depth);
        fputc(map ? '}' : ']', f);
        break;
    }
    }
}

void sv_write_json(const sv *v, FILE *f, int indent) { json_rec(v, f, indent, 0); }

/* ---- msgpack ---- */

int sv_pack(const sv *v, struct msgpack_packer *pk) {
    if (!v) return msgpack_pack_nil(pk);
    switch (v->type) {
    case SV_NIL: return msgpack_pack_nil(pk);
    case SV_BOOL: return v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case SV_INT: return msgpack_pack_int64(pk, v->u.i);
    case SV_FLOAT: return msgpack_pack_double(pk, v->u.f);
    case SV_STR:
        if (msgpack_pack_str(pk, v->u.str.len)) return -1;
        return msgpack_pack_str_body(pk, v->u.str.s, v->u.str.len);
    case SV_ARRAY:
        if (msgpack_pack_array(pk, v->u.list.n)) return -1;
        for (size_t i = 0; i < v->u.list.n; i++)
            if (sv_pack(v->u.list.items[i], pk)) return -1;
        return 0;
    case SV_MAP:
        if (msgpack_pack_map(pk, v->u.list.n)) return -1;
        for (size_t i = 0; i < v->u.list.n; i++) {
            size_t kn = strlen(v->u.list.keys[i]);
            if (msgpack_pack_str(pk, kn) || msgpack_pack_str_body(pk, v->u.list.keys[i], kn) ||
                sv_pack(v->u.list.items[i], pk))
                return -1;
        }
        return 0;
    }
    return -1;
}

static sv *from_mp(const msgpack_object *o, int depth) {
    if (depth > SV_MAX_DEPTH) return NULL;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return sv_nil();
    case MSGPACK_OBJECT_BOOLEAN: return sv_bool(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX) return NULL;
        return sv_int((int64_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return sv_int(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return sv_float(o->via.f64);
    case MSGPACK_OBJECT_STR: return sv_strn(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return sv_strn(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY: {
        sv *a = sv_array();
        for (uint32_t i = 0; a && i < o->via.array.size; i++) {
            sv *c = from_mp(&o->via.array.ptr[i], depth + 1);
            if (!c || sv_push(a, c)) { sv_free(a); return NULL; }
        }
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        sv *m = sv_map();
        for (uint32_t i = 0; m && i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type != MSGPACK_OBJECT_STR ||
                memchr(kv->key.via.str.ptr, 0, kv->key.via.str.size)) {
                sv_free(m);
                return NULL;
            }
            char key[1024];
            if (kv->key.via.str.size >= sizeof key) { sv_free(m); return NULL; }
            memcpy(key, kv->key.via.str.ptr, kv->key.via.str.size);
            key[kv->key.via.str.size] = 0;
            sv *c = from_mp(&kv->val, depth + 1);
            if (!c || sv_set(m, key, c)) { sv_free(m); return NULL; }
        }
        return m;
    }
    default: return NULL;
    }
}

sv *sv_from_msgpack(const struct msgpack_object *o) { return o ? from_mp(o, 0) : NULL; }
