/*
 * This file is private to mproc.
 *
 * The program's start method (context.c).
 */
#ifndef MPROC_SRC_CONTEXT_H
#define MPROC_SRC_CONTEXT_H

#include "mproc.h"

/*
 * 0 if @method is known and offered here (MPROC_START_DEFAULT is);
 * MPROC_EINVAL or MPROC_ENOTSUP with a sentence otherwise.
 */
int mproc__check_method(mproc_start_method_e method);

/*
 * 1 with *@method set if the program chose a start method (a child is
 * told of it), else 0.
 */
int mproc__context_explicit(mproc_start_method_e *method);

/*
 * 0 once mproc_main() has run; before, MPROC_ESTATE with "cannot @what
 * ...: call mproc_main() first". Whatever starts a process (a child, a
 * tracker) checks it: that process runs main() again from its top. The
 * flag lives here, below every module that checks it; mproc_main() (in
 * bootstrap.c, at the top) sets it.
 */
int mproc__runtime_check(const char *what);
/* Whether mproc_main() has run (1) or not (0). */
int mproc__runtime_up(void);
/* Records that mproc_main() runs. */
void mproc__runtime_set_up(void);

#endif
