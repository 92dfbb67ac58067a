/*
 * Status codes and the per-thread sentence and status of the last failure.
 */
#include <stdio.h>

#include "mproc_services.h"

static MPROC__TLS char last_error[512];
/*
 * The status that went with last_error, for mproc_perror(): kept beside
 * the sentence so that the two always describe the same failure.
 */
static MPROC__TLS int last_status;

const char *mproc_err_name(int status)
{
    switch (status) {
    case 0:
        return "MPROC_OK";
    case MPROC_OWNERDEAD:
        return "MPROC_OWNERDEAD";
#define MPROC_XX_(name, value, text)                                           \
    case value:                                                                \
        return "MPROC_" #name;
        MPROC_ERRNO_MAP(MPROC_XX_)
#undef MPROC_XX_
    default:
        return "MPROC_E?";
    }
}

const char *mproc_strerror(int status)
{
    switch (status) {
    case 0:
        return "success";
    case MPROC_OWNERDEAD:
        return "acquired, but the previous holder died holding it";
#define MPROC_XX_(name, value, text)                                           \
    case value:                                                                \
        return text;
        MPROC_ERRNO_MAP(MPROC_XX_)
#undef MPROC_XX_
    default:
        return "unknown error";
    }
}

const char *mproc_last_error(void)
{
    return last_error;
}

int mproc__set_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_status = status;
    return status;
}

int mproc__last_status(void)
{
    return last_status;
}

int mproc_perror(const char *prefix)
{
    /* Output already buffered comes first, as it was written first. */
    fflush(stdout);
    if (prefix != NULL && *prefix != '\0')
        fprintf(stderr, "%s: %s\n", prefix,
                last_error[0] ? last_error : mproc_strerror(last_status));
    else
        fprintf(stderr, "%s\n",
                last_error[0] ? last_error : mproc_strerror(last_status));
    return last_status;
}
