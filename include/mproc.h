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
#include "mproc/version.h"
#include "mproc/error.h"
#include "mproc/value.h"
#include "mproc/pack.h"
#include "mproc/log.h"
#include "mproc/codec.h"
#include "mproc/runtime.h"
#include "mproc/process.h"
#include "mproc/synchronize.h"
#include "mproc/connection.h"
#include "mproc/listener.h"
#include "mproc/queue.h"
#include "mproc/shared_memory.h"
#include "mproc/manager.h"
#include "mproc/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The version of the library in use, e.g. "0.1.0": the library's own, which
 * may differ from the MPROC_VERSION_STRING a program was compiled with.
 */
MPROC_API const char *mproc_version(void);

#ifdef __cplusplus
}
#endif

#endif
