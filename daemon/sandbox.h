/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's confinement after set-up (docs/security.md "Confinement").
 */
#ifndef VQNETD_SANDBOX_H
#define VQNETD_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

struct sandbox_opts {
	bool off;	 /* --sandbox off: keep everything (debugging) */
	bool switch_ids; /* --user / --group given */
	uid_t uid;	 /* --user (or unchanged) */
	gid_t gid;	 /* --group, else the user's primary group */
};

/* "--user NAME|UID" / "--group NAME|GID" into @o. Return 0 or -ENOENT
 * (no such user or group). */
int sandbox_parse_user(const char *name, struct sandbox_opts *o);
int sandbox_parse_group(const char *name, struct sandbox_opts *o);

/*
 * sandbox_confine() - give up what serving a frontend does not need, once
 * every socket, TAP and backend is open: switch to --user/--group (all
 * supplementary groups dropped), no new privileges (PR_SET_NO_NEW_PRIVS),
 * not dumpable (a core file would hold guest memory), every capability
 * dropped (effective, permitted, inheritable, ambient and the bounding
 * set). Applies to the whole process; threads started later inherit it.
 * Return 0, or -errno with one log line naming the step that failed (the
 * daemon then exits: it never runs half-confined).
 */
int sandbox_confine(const struct sandbox_opts *o);

#endif
