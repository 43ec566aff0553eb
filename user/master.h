/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The master: with -w 1 the process is its own worker; with -w N it forks
 * N workers, forwards signals to them, restarts any that dies and, on a
 * reload (SIGHUP or the control socket's "reload"), loads the config once
 * and hands it to all of them.
 */
#ifndef __PT_MASTER_H
#define __PT_MASTER_H

struct pt_control;
struct pt_listen_set;
struct pt_worker_args;

/*
 * Block SIGTERM, SIGINT and SIGHUP before anything else: they wait for the
 * signalfd of the worker or the master, so that a signal during start-up
 * still ends in a clean stop.
 */
void pt_master_hold_signals(void);

/*
 * Run the workers until they have all stopped. @args is the template of
 * every worker (args->n_workers of them, each given sets[id]); @ctl is the
 * control socket, served by the only worker with -w 1, else by the master.
 * A reload in the master replaces args->cfg (the caller puts whichever
 * config is there on return, and frees @sets). Returns the exit code.
 */
int pt_master_run(struct pt_worker_args *args, struct pt_listen_set *sets, struct pt_control *ctl);

#endif /* __PT_MASTER_H */
