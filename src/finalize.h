/*
 * This file is private to mproc.
 *
 * Finalizers and the objects a process holds open (finalize.c): Python's
 * util.Finalize. How a process ends is exit.h.
 */
#ifndef MPROC_SRC_FINALIZE_H
#define MPROC_SRC_FINALIZE_H

#include "mproc.h"

/*
 * Named objects this process holds open. A process that ends normally lets
 * go of them (Python finalizes them at exit), so the last user's exit
 * removes a name; only a killed tree leaves names for the tracker.
 */
typedef struct mproc__owned_t {
    void (*release)(void *obj);
    void *obj;
    struct mproc__owned_t *prev, *next;
} mproc__owned_t;

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *),
                       void *obj);
void mproc__owned_unlink(mproc__owned_t *node);

/*
 * Runs the registered finalizers in order, only those of priority >= @min
 * if @has_min (Python's _run_finalizers(minpriority)).
 */
void mproc__finalize_run(int has_min, int min);
/* Lets go of every object still open (the runtime's own finalizer). */
void mproc__finalize_release_objects(void);
/*
 * In a fork child: the parent's open objects and finalizers are the
 * parent's, and the lists' locks start unlocked.
 */
void mproc__finalize_lists_after_fork(void);
/*
 * At a child's start: the finalizers registered so far are not its own
 * (Python's _bootstrap clears the registry), and are forgotten.
 */
void mproc__finalize_forget(void);

#endif
