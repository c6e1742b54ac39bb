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
 * capture_open_in() - at run time (`vqnetctl capture start`, the confined
 * control thread): create @o->file, a plain file name (no '/', not "."
 * or ".."), in the directory @dir_fd (--capture-dir @dir_name) as a new
 * file (mode 0600; an existing file or a symbolic link there is refused,
 * never replaced or followed), otherwise as capture_open(). The strings
 * of @o are copied. Return 0 and *out, or -errno with the reason in @err
 * (@err_len bytes).
 */
int capture_open_in(int dir_fd, const char *dir_name, const struct capture_opts *o,
		    struct capture **out, char *err, size_t err_len);

/*
 * capture_start() - once confined: turn the device's capture taps on and
 * start the writer thread ("vqnet-capture", in its own seccomp list),
 * which filters the frames and appends them to the file. 0 or -errno.
 */
int capture_start(struct capture *c, struct net_dev *d, const struct sandbox_opts *sandbox);

/* What a running capture is doing (control thread; the counters are
 * read while the writer runs). The strings are @c's. */
struct capture_info {
	const char *file, *filter; /* filter NULL: none */
	uint32_t snaplen;
	uint64_t max_bytes;			/* 0: no limit */
	uint64_t written, filtered, over_limit; /* frames */
	uint64_t dropped;			/* frames the taps could not copy */
};
void capture_get_info(const struct capture *c, struct capture_info *out);
/* The file's path as the operator named it. */
const char *capture_file(const struct capture *c);

/* Stop the writer (what the taps hold is written first), turn the taps
 * off, close the file, log what was written, filtered out and dropped
 * (the same line in @summary, @len bytes, unless NULL), and free @c.
 * NULL is ignored. Control thread. */
void capture_close(struct capture *c, char *summary, size_t len);

#endif
