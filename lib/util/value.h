/* value.h: a small JSON-like value tree for metadata and configuration.
 *
 * Types: nil, bool, int (int64), float (double), str, array, map (string
 * keys, insertion order kept). Used for the typed metadata of tensor
 * streams (class names, mean/std, the resolved configuration), packed as
 * msgpack and printed as JSON by ssl-info.
 *
 * Ownership: constructors return a new heap value (NULL on out of memory);
 * sv_push and sv_set take ownership of the item they are given, even on
 * failure (they free it). sv_free(NULL) is a no-op. Getters never allocate
 * and return NULL / the default when the key is absent or of another type. */
#ifndef SSL_VALUE_H
#define SSL_VALUE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

typedef enum { SV_NIL, SV_BOOL, SV_INT, SV_FLOAT, SV_STR, SV_ARRAY, SV_MAP } sv_type;

typedef struct sv sv;
struct sv {
    sv_type type;
    union {
        int b;
        int64_t i;
        double f;
        struct { char *s; size_t len; } str;               /* NUL-terminated too */
        struct { sv **items; char **keys; size_t n, cap; } list; /* keys only for maps */
    } u;
};

sv *sv_nil(void);
sv *sv_bool(int b);
sv *sv_int(int64_t i);
sv *sv_float(double f);
sv *sv_str(const char *s);
sv *sv_strn(const char *s, size_t len);
sv *sv_array(void);
sv *sv_map(void);
/* Arrays of numbers and strings, for convenience. */
sv *sv_float_array(const double *v, size_t n);
sv *sv_int_array(const int64_t *v, size_t n);
sv *sv_str_array(const char *const *v, size_t n);

int sv_push(sv *array, sv *item);                 /* 0 or -1 */
int sv_set(sv *map, const char *key, sv *val);    /* replaces an existing key; 0 or -1 */
void sv_free(sv *v);
sv *sv_copy(const sv *v);
int sv_equal(const sv *a, const sv *b);           /* deep equality (int 1 != float 1.0) */

size_t sv_len(const sv *v);                       /* items of an array or map, else 0 */
const sv *sv_at(const sv *v, size_t i);           /* i-th item of an array or map */
const char *sv_key(const sv *map, size_t i);
const sv *sv_get(const sv *map, const char *key); /* NULL if absent or not a map */
/* Dotted paths: sv_path(cfg, "train.lr"). */
const sv *sv_path(const sv *map, const char *dotted);

int64_t sv_get_int(const sv *map, const char *key, int64_t dflt);
double sv_get_float(const sv *map, const char *key, double dflt); /* ints convert */
const char *sv_get_str(const sv *map, const char *key, const char *dflt);
int sv_get_bool(const sv *map, const char *key, int dflt);
/* As numbers: ints and floats both; returns 0 and sets *out, or -1. */
int sv_number(const sv *v, double *out);

/* JSON out (strings escaped; non-finite floats as null). indent < 0: one line. */
void sv_write_json(const sv *v, FILE *f, int indent);
/* JSON in (util/json.c): the one value of text[0..n) (strict RFC 8259,
 * nesting at most 32 deep, no duplicate keys), or NULL with err
 * ("byte 17: expected ':' after a key"). Integers that fit int64 become
 * SV_INT, other numbers SV_FLOAT. */
sv *sv_from_json(const char *text, size_t n, ssl_err *err);

/* msgpack bridge (msgpack-c). Declared with forward types to keep this
 * header free of msgpack.h. sv_from_msgpack refuses (NULL) nesting deeper
 * than 32 and types it cannot represent (ext, non-string map keys). */
struct msgpack_packer;
struct msgpack_object;
int sv_pack(const sv *v, struct msgpack_packer *pk);
sv *sv_from_msgpack(const struct msgpack_object *o);
#endif
