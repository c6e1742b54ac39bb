/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's restart state file (--state-dir; docs/vqnetd.md "Restart
 * without loss"): where it is, what names the device, and opening it.
 */
#ifndef VQNETD_STATE_H
#define VQNETD_STATE_H

#include <stdint.h>

#include <vqnet/vhost_user.h>

/**
 * state_open() - open the state file of the device served on @socket_path
 * (MAC @mac, @queue_pairs pairs, @num_rings virtqueues). @dir: the
 * --state-dir argument; NULL for the default ($RUNTIME_DIRECTORY, else the
 * socket's directory), "none" for no state file. The file is
 * DIR/SOCKET.state, SOCKET being the socket path without its leading '/'
 * and with each other '/' made '-'. A default place that cannot be used
 * only costs the state (one warning); a --state-dir that cannot, the start.
 * Return: 0 and *out (NULL: no state file), or -errno (logged).
 */
int state_open(const char *dir, const char *socket_path, const uint8_t mac[6], unsigned queue_pairs,
	       unsigned num_rings, struct vu_state **out);

#endif
