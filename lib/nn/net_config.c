/* net_config.c: a net_config to and from a value map (util/value.h), for
 * checkpoint and stream metadata. Keys: arch, stem, width, in_ch, in_h,
 * in_w, head, hidden, dim. The only file of lib/nn that calls the value
 * library (net.h includes util/value.h for the sv type of these two
 * functions). */
#include <stdio.h>
#include <string.h>

#include "nn/net.h"

sv *net_config_to_sv(const net_config *c) {
    sv *m = sv_map();
    if (!m) return NULL;
    int bad = 0;
    bad |= sv_set(m, "arch", sv_str(c->arch));
    bad |= sv_set(m, "stem", sv_str(c->stem));
    bad |= sv_set(m, "width", sv_float(c->width));
    bad |= sv_set(m, "in_ch", sv_int(c->in_ch));
    bad |= sv_set(m, "in_h", sv_int(c->in_h));
    bad |= sv_set(m, "in_w", sv_int(c->in_w));
    bad |= sv_set(m, "head", sv_str(c->head));
    bad |= sv_set(m, "hidden", sv_int(c->hidden));
    bad |= sv_set(m, "dim", sv_int(c->dim));
    if (bad) { sv_free(m); return NULL; }
    return m;
}

static int get_str(char *dst, size_t cap, const sv *m, const char *key, ssl_err *err) {
    const sv *v = sv_get(m, key);
    if (!v || v->type != SV_STR) {
        ssl_fail(err, SSL_EARG, "network configuration: '%s' missing or not a string", key);
        return -1;
    }
    if (v->u.str.len >= cap) {
        ssl_fail(err, SSL_EARG, "network configuration: '%s' too long", key);
        return -1;
    }
    memcpy(dst, v->u.str.s, v->u.str.len + 1);
    return 0;
}

static int get_int(int *dst, const sv *m, const char *key, ssl_err *err) {
    const sv *v = sv_get(m, key);
    if (!v || v->type != SV_INT || v->u.i < -2147483647LL || v->u.i > 2147483647LL) {
        ssl_fail(err, SSL_EARG, "network configuration: '%s' missing or not an integer", key);
        return -1;
    }
    *dst = (int)v->u.i;
    return 0;
}

int net_config_from_sv(net_config *c, const sv *m, ssl_err *err) {
    memset(c, 0, sizeof *c);
    if (!m || m->type != SV_MAP) {
        ssl_fail(err, SSL_EARG, "network configuration: not a map");
        return -1;
    }
    double w;
    const sv *wv = sv_get(m, "width");
    if (!wv || sv_number(wv, &w) < 0) {
        ssl_fail(err, SSL_EARG, "network configuration: 'width' missing or not a number");
        return -1;
    }
    c->width = (float)w;
    if (get_str(c->arch, sizeof c->arch, m, "arch", err) < 0 ||
        get_str(c->stem, sizeof c->stem, m, "stem", err) < 0 ||
        get_str(c->head, sizeof c->head, m, "head", err) < 0 ||
        get_int(&c->in_ch, m, "in_ch", err) < 0 || get_int(&c->in_h, m, "in_h", err) < 0 ||
        get_int(&c->in_w, m, "in_w", err) < 0 || get_int(&c->hidden, m, "hidden", err) < 0 ||
        get_int(&c->dim, m, "dim", err) < 0)
        return -1;
    return 0;
}
