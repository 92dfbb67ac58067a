/*
 * This file is private to mproc.
 *
 * The logger (log.c) as the rest of the core sees it.
 */
#ifndef MPROC_SRC_LOG_H
#define MPROC_SRC_LOG_H

int mproc__log_is_on(void);
void mproc__log_restore(int on, int level);
/*
 * The name of the current process, which every line carries (process.c
 * sets it whenever the current process changes; "MainProcess" before).
 * @name must outlive its use: it is the current process object's.
 */
void mproc__log_set_name(const char *name);

#endif
