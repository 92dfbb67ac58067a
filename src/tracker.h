/*
 * This file is private to mproc.
 *
 * The resource tracker (tracker.c), as mproc_main() starts it.
 */
#ifndef MPROC_SRC_TRACKER_H
#define MPROC_SRC_TRACKER_H

#include "mproc.h"

/*
 * The tracker's main loop, run by mproc_main() in the spawned tracker
 * process when argv[1] is the tracker marker. Never returns.
 */
MPROC_NORETURN void mproc__tracker_main(int argc, char **argv);

#endif
