/* SPDX-License-Identifier: MIT */
/*
 * vqnetd's packet capture to a pcap file (--capture FILE; docs/vqnetd.md
 * "Capturing frames").
 */
#ifndef VQNETD_CAPTURE_H
#define VQNETD_CAPTURE_H

#include <stdint.h>

#include <vqnet/net_dev.h>

#include "sandbox.h"

struct capture_opts {
	const char *file;   /* NULL: no capture */
	const char *filter; /* a BPF expression (pcap-filter(7)), or NULL */
	uint32_t snaplen;   /* bytes kept of each frame */
	uint64_t max_bytes; /* stop writing past this file size; 0 = no limit */
};

struct capture;

/*
 * capture_open() - at set-up, before the sandbox: create @o->file (mode
 * 0600, replaced if it exists) with a pcap header (Ethernet links) and
 * compile the filter. Return 0 and *out, or -EINVAL (a filter libpcap
 * refuses) or -errno, with one line on stderr.
 */
int capture_open(const struct capture_opts *o, struct capture **out);

/*
 * capture_start() - once confined: turn the device's capture taps on and
 * start the writer thread ("vqnet-capture", in its own seccomp list),
 * which filters the frames and appends them to the file. 0 or -errno.
 */
int capture_start(struct capture *c, struct net_dev *d, const struct sandbox_opts *sandbox);

/* Stop the writer (what the taps hold is written first), turn the taps
 * off, close the file, log what was written, filtered out and dropped,
 * and free @c. NULL is ignored. Control thread. */
void capture_close(struct capture *c);

#endif
