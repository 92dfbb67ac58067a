/*
 * Values written as Python's repr() writes the objects they stand for: the
 * form the tour's programs print (`Results: {0: 0, 1: 2}`) and the form
 * the manager's sentences quote keys in (`KeyError: 'a'`).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"
#include "value_codec.h"
#include "value_internal.h"

/* Deeper than this, a value is cut short: its repr would be unreadable. */
#define REPR_MAX_DEPTH 100

static int put(mproc__buf_t *b, const char *s)
{
    return mproc__buf_append(b, s, strlen(s));
}

/*
 * A float as Python's repr: the shortest digits that read back as @d, in
 * positional form with ".0" for a whole number, or in exponent form
 * ("1e+16", "1e-05") when the point is more than 16 places right or 4
 * left of the first digit.
 */
static int put_float(mproc__buf_t *b, double d)
{
    char e[40], digits[24], out[48];
    int prec, exp10, ndig, i, n = 0;
    const char *p;
    if (isnan(d))
        return put(b, "nan");
    if (isinf(d))
        return put(b, d < 0 ? "-inf" : "inf");
    /* The shortest %.*e that round-trips: 17 significant digits always do. */
    for (prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e is "[-]D[.DDD]e[+-]XX": split it into digits and exponent. */
    p = e;
    if (*p == '-')
        out[n++] = *p++;
    for (ndig = 0; *p != 'e' && *p != '\0'; p++)
        if (*p != '.')
            digits[ndig++] = *p;
    exp10 = *p == 'e' ? atoi(p + 1) : 0;
    while (ndig > 1 && digits[ndig - 1] == '0')
        ndig--;
    if (exp10 < -4 || exp10 >= 16) {
        /* Exponent form: D[.DDD]e[+-]XX with at least two exponent digits. */
        out[n++] = digits[0];
        if (ndig > 1) {
            out[n++] = '.';
            for (i = 1; i < ndig; i++)
                out[n++] = digits[i];
        }
        snprintf(out + n, sizeof out - (size_t) n, "e%c%02d",
                 exp10 < 0 ? '-' : '+', exp10 < 0 ? -exp10 : exp10);
        return put(b, out);
    }
    if (exp10 < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (i = 0; i < -exp10 - 1; i++)
            out[n++] = '0';
        for (i = 0; i < ndig; i++)
            out[n++] = digits[i];
    } else {
        for (i = 0; i <= exp10; i++)
            out[n++] = i < ndig ? digits[i] : '0';
        out[n++] = '.';
        if (ndig > exp10 + 1)
            for (i = exp10 + 1; i < ndig; i++)
                out[n++] = digits[i];
        else
            out[n++] = '0';
    }
    out[n] = '\0';
    return put(b, out);
}

/*
 * A string or byte string quoted as Python quotes it: single quotes unless
 * the text holds a single quote and no double one. Text keeps its bytes of
 * 0x80 and above (its UTF-8); a byte string shows them as \xNN.
 */
static int put_quoted(mproc__buf_t *b, const char *s, size_t len, int bytes)
{
    char q = '\'', esc[8];
    size_t i;
    int rc = 0;
    if (memchr(s, '\'', len) != NULL && memchr(s, '"', len) == NULL)
        q = '"';
    if (bytes)
        rc = put(b, "b");
    if (rc == 0)
        rc = mproc__buf_append(b, &q, 1);
    for (i = 0; rc == 0 && i < len; i++) {
        unsigned char c = (unsigned char) s[i];
        if (c == '\\' || c == (unsigned char) q) {
            esc[0] = '\\';
            esc[1] = (char) c;
            esc[2] = '\0';
        } else if (c == '\t' || c == '\n' || c == '\r') {
            esc[0] = '\\';
            esc[1] = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
            esc[2] = '\0';
        } else if (c < 0x20 || c == 0x7f || (bytes && c >= 0x80)) {
            snprintf(esc, sizeof esc, "\\x%02x", c);
        } else {
            esc[0] = (char) c;
            esc[1] = '\0';
        }
        rc = put(b, esc);
    }
    if (rc == 0)
        rc = mproc__buf_append(b, &q, 1);
    return rc;
}

static int repr(mproc__buf_t *b, const mproc_value_t *v, int depth)
{
    char num[32];
    size_t i;
    int rc = 0;
    if (depth > REPR_MAX_DEPTH)
        return put(b, "...");
    switch (mproc_value_type(v)) {
    case MPROC_VALUE_NIL:
        return put(b, "None");
    case MPROC_VALUE_BOOL:
        return put(b, v->u.b ? "True" : "False");
    case MPROC_VALUE_INT:
        snprintf(num, sizeof num, "%lld", (long long) v->u.i);
        return put(b, num);
    case MPROC_VALUE_FLOAT:
        return put_float(b, v->u.f);
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        return put_quoted(b, v->u.s.ptr, v->u.s.len,
                          v->type == MPROC_VALUE_BYTES);
    case MPROC_VALUE_LIST:
        rc = put(b, "[");
        for (i = 0; rc == 0 && i < v->u.c.len; i++) {
            if (i > 0)
                rc = put(b, ", ");
            if (rc == 0)
                rc = repr(b, v->u.c.items[i], depth + 1);
        }
        return rc == 0 ? put(b, "]") : rc;
    case MPROC_VALUE_MAP:
        rc = put(b, "{");
        for (i = 0; rc == 0 && i < v->u.c.len; i += 2) {
            if (i > 0)
                rc = put(b, ", ");
            if (rc == 0)
                rc = repr(b, v->u.c.items[i], depth + 1);
            if (rc == 0)
                rc = put(b, ": ");
            if (rc == 0)
                rc = repr(b, v->u.c.items[i + 1], depth + 1);
        }
        return rc == 0 ? put(b, "}") : rc;
    case MPROC_VALUE_RECORD:
        rc = put(b, v->u.c.type);
        if (rc == 0)
            rc = put(b, "(");
        for (i = 0; rc == 0 && i < v->u.c.len; i++) {
            if (i > 0)
                rc = put(b, ", ");
            if (rc == 0)
                rc = repr(b, v->u.c.items[i], depth + 1);
        }
        return rc == 0 ? put(b, ")") : rc;
    case MPROC_VALUE_REF:
        rc = put(b, "<");
        if (rc == 0)
            rc = put(b, mproc__ref_kind_name(v->u.r.kind));
        return rc == 0 ? put(b, " reference>") : rc;
    }
    return 0;
}

char *mproc_value_repr(const mproc_value_t *v)
{
    mproc__buf_t b = {0};
    if (repr(&b, v, 0) != 0 || mproc__buf_append(&b, "", 1) != 0) {
        mproc__buf_free(&b);
        return NULL;
    }
    return (char *) b.data;
}
