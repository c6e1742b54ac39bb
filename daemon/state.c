/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's restart state file: the place and the device's identity; the
 * file itself is the vhost-user library's (vu_state_open(),
 * lib/vhost_user/backend_state.c). Opened at set-up, before the sandbox:
 * every system call it needs is made here (open, flock, fstat, ftruncate,
 * mmap); serving only writes the mapping.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/log.h>

#include "state.h"

/* DIR/SOCKET.state into @buf (PATH_MAX). 0 or -ENAMETOOLONG. */
static int state_path(const char *dir, const char *socket_path, char *buf)
{
	char name[PATH_MAX];
	size_t n = 0;

	for (const char *p = socket_path[0] == '/' ? socket_path + 1 : socket_path; *p; p++) {
		if (n + 1 >= sizeof(name))
			return -ENAMETOOLONG;
		name[n++] = *p == '/' ? '-' : *p;
	}
	name[n] = '\0';
	if (snprintf(buf, PATH_MAX, "%s/%s.state", dir, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	return 0;
}

/* The default directory: systemd's RuntimeDirectory=, else the socket's. */
static void default_dir(const char *socket_path, char *buf)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");
	const char *slash = strrchr(socket_path, '/');

	if (rt && *rt && strlen(rt) < PATH_MAX) {
		/* systemd may list several, ':'-separated: the first. */
		snprintf(buf, PATH_MAX, "%.*s", (int)strcspn(rt, ":"), rt);
	} else if (!slash) {
		strcpy(buf, ".");
	} else if (slash == socket_path) {
		strcpy(buf, "/");
	} else {
		snprintf(buf, PATH_MAX, "%.*s", (int)(slash - socket_path), socket_path);
	}
}

int state_open(const char *dir, const char *socket_path, const uint8_t mac[6], unsigned queue_pairs,
	       unsigned num_rings, struct vu_state **out)
{
	char where[PATH_MAX], path[PATH_MAX], device[200];
	int rc;

	*out = NULL;
	if (dir && !strcmp(dir, "none"))
		return 0;
	if (!dir)
		default_dir(socket_path, where);
	/* What makes it the same device: a file with another identity is
	 * refused (vu_state_open()). */
	snprintf(device, sizeof(device), "%.120s mac %02x:%02x:%02x:%02x:%02x:%02x pairs %u",
		 socket_path, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], queue_pairs);
	rc = state_path(dir ? dir : where, socket_path, path);
	if (!rc)
		rc = vu_state_open(path, device, num_rings, 0, out);
	if (!rc)
		return 0;
	if (rc == -EWOULDBLOCK)
		vqnet_log(dir ? VQNET_LOG_ERROR : VQNET_LOG_WARN, NULL,
			  "state file %s: in use by another vqnetd", path);
	else
		vqnet_log(dir ? VQNET_LOG_ERROR : VQNET_LOG_WARN, NULL, "state file %s: %s",
			  rc == -ENAMETOOLONG ? "(name too long)" : path, strerror(-rc));
	if (dir)
		return rc;
	vqnet_log(VQNET_LOG_WARN, NULL,
		  "no restart state: a restart loses the chains in flight (--state-dir)");
	return 0;
}
