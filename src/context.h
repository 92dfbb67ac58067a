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

#endif
