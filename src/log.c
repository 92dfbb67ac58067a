/*
 * The runtime's logger: Python's multiprocessing logger, to stderr.
 *
 * A line is formatted whole and written with one fputs on an unbuffered
 * stderr, so lines of concurrent processes do not interleave mid-line
 * (stderr writes below PIPE_BUF are atomic on pipes).
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "mproc_services.h"

static int log_on;
static int log_level = MPROC_LOG_WARNING;
/* The current process's name (see mproc__log_set_name). */
static const char *self_name = "MainProcess";

void mproc__log_set_name(const char *name)
{
    self_name = name != NULL ? name : "MainProcess";
}

int mproc__log_is_on(void)
{
    return log_on;
}

void mproc__log_restore(int on, int level)
{
    log_on = on != 0;
    log_level = level;
}

void mproc_log_to_stderr(int level)
{
    log_on = 1;
    if (level != MPROC_LOG_NOTSET)
        log_level = level;
}

void mproc_log_set_level(int level)
{
    log_level = level;
}

int mproc_log_level(void)
{
    return log_level;
}

int mproc_log_enabled(int level)
{
    return log_on && level >= log_level;
}

const char *mproc_log_level_name(int level)
{
    static MPROC__TLS char other[32];
    switch (level) {
    case MPROC_LOG_NOTSET:
        return "NOTSET";
    case MPROC_LOG_SUBDEBUG:
        return "SUBDEBUG";
    case MPROC_LOG_DEBUG:
        return "DEBUG";
    case MPROC_LOG_INFO:
        return "INFO";
    case MPROC_LOG_SUBWARNING:
        return "SUBWARNING";
    case MPROC_LOG_WARNING:
        return "WARNING";
    case MPROC_LOG_ERROR:
        return "ERROR";
    case MPROC_LOG_CRITICAL:
        return "CRITICAL";
    default:
        snprintf(other, sizeof other, "Level %d", level);
        return other;
    }
}

void mproc_logv(int level, const char *fmt, va_list ap)
{
    char line[1024];
    int n;
    if (!mproc_log_enabled(level))
        return;
    n = snprintf(line, sizeof line, "[%s/%s] ", mproc_log_level_name(level),
                 self_name);
    if (n < 0)
        return;
    if ((size_t) n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t) n, fmt, ap);
    n = (int) strlen(line);
    if (n >= (int) sizeof line - 1)
        n = (int) sizeof line - 2;
    line[n] = '\n';
    line[n + 1] = '\0';
    fflush(stdout);
    fputs(line, stderr);
    fflush(stderr);
}

void mproc_log(int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mproc_logv(level, fmt, ap);
    va_end(ap);
}
