/*
 * This file is private to mproc.
 *
 * The explicit configuration (config.c), as a child receives it.
 */
#ifndef MPROC_SRC_CONFIG_H
#define MPROC_SRC_CONFIG_H

#include "mproc.h"

/* The configuration as a new map of strings; NULL when out of memory. */
mproc_value_t *mproc__config_export(void);
int mproc__config_import(const mproc_value_t *map);

#endif
