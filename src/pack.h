/*
 * This file is private to mproc.
 *
 * pack and unpack (pack.c).
 */
#ifndef MPROC_SRC_PACK_H
#define MPROC_SRC_PACK_H

/*
 * The status of the calling thread's latest mproc_pack() if it failed
 * (and forgets it), else 0: how mproc_spawn() tells a NULL that stands for
 * a failed pack from a NULL that means no arguments.
 */
int mproc__pack_take_failure(void);

#endif
