/*
 * This file is private to mproc.
 *
 * Targets and pool targets by name and by function, and record types
 * (registry.c).
 */
#ifndef MPROC_SRC_REGISTRY_H
#define MPROC_SRC_REGISTRY_H

#include "mproc.h"

mproc_target_fn mproc__target_find(const char *name);
/* The name @fn is registered under, or NULL if it is not registered. */
const char *mproc__target_name(mproc_target_fn fn);
/* The pool target registered under @name, or NULL. */
mproc_pool_fn mproc__pool_target_find(const char *name);
/* The name pool target @fn is registered under, or NULL. */
const char *mproc__pool_target_name(mproc_pool_fn fn);
/* The behaviour of a registered record type (NULL call if none); 0 if the
 * type is not registered. */
int mproc__record_find(const char *type, mproc_record_fn *call);
/* In a fork child: the tables' lock starts unlocked. */
void mproc__registry_after_fork(void);

#endif
