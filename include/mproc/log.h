/**
 * @file mproc/log.h
 * @brief The runtime's logger, as multiprocessing.get_logger().
 *
 * Nothing is logged until mproc_log_to_stderr() is called. Lines look like
 * Python's: "[LEVEL/ProcessName] message". Children get the level and the
 * on/off switch of their parent at start, under every start method.
 *
 * @defgroup log Logging
 * @{
 */
#ifndef MPROC_LOG_H
#define MPROC_LOG_H

#include <stdarg.h>

#include "mproc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Python's logging levels, plus multiprocessing's SUBDEBUG and SUBWARNING. */
enum mproc_log_level_e {
    MPROC_LOG_NOTSET = 0,      /**< no level: keep the current one */
    MPROC_LOG_SUBDEBUG = 5,    /**< the runtime's finest detail */
    MPROC_LOG_DEBUG = 10,      /**< detail for debugging */
    MPROC_LOG_INFO = 20,       /**< what happens: starts, joins, exits */
    MPROC_LOG_SUBWARNING = 25, /**< a cleanup that went wrong */
    MPROC_LOG_WARNING = 30,    /**< something unexpected; the default level */
    MPROC_LOG_ERROR = 40,      /**< a failure */
    MPROC_LOG_CRITICAL = 50    /**< a failure the program may not survive */
};

/**
 * Sends the logger's lines to stderr from now on, and sets its level unless
 * @p level is MPROC_LOG_NOTSET (which keeps the current one, WARNING at
 * first).
 */
MPROC_API void mproc_log_to_stderr(int level);
/** Changes the level: lines below it are dropped. */
MPROC_API void mproc_log_set_level(int level);
/** The current level. */
MPROC_API int mproc_log_level(void);
/** Whether a line at @p level would be written (1) or not (0). */
MPROC_API int mproc_log_enabled(int level);
/** "DEBUG", "SUBWARNING", ... ; "Level N" for others, as Python. */
MPROC_API const char *mproc_log_level_name(int level);
/** Writes "[LEVEL/ProcessName] message" if @p level is enabled. */
MPROC_API void mproc_log(int level, const char *fmt, ...) MPROC_PRINTF(2, 3);
/** mproc_log() with a va_list. */
MPROC_API void mproc_logv(int level, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
