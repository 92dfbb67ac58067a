/**
 * @file mproc.h
 * @brief mproc: Python's multiprocessing for C, on Windows and Unix alike.
 *
 * The one header a program includes. Start with mproc_main() as the first
 * call of main(); see mproc/process.h.
 */
#ifndef MPROC_H
#define MPROC_H

#include "mproc/export.h"
#include "mproc/error.h"
#include "mproc/value.h"
#include "mproc/pack.h"
#include "mproc/log.h"
#include "mproc/process.h"
#include "mproc/synchronize.h"
#include "mproc/connection.h"
#include "mproc/queue.h"

/** The library version. */
#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0

#ifdef __cplusplus
extern "C" {
#endif

/** The version of the library in use, e.g. "0.1.0". */
MPROC_API const char *mproc_version(void);

#ifdef __cplusplus
}
#endif

#endif
