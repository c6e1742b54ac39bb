/* SPDX-License-Identifier: MIT */
/*
 * netbe_new(): from a backend spec to a backend.
 *
 * Theory of operation: a spec is KIND or KIND:ARG. The table below names
 * each kind, says whether it takes an argument and which constructor
 * builds it; everything after the first ':' is handed to the constructor
 * untouched (tap: the interface name; dgram: the two socket addresses,
 * parsed in dgram.c). Bad specs fail here with -EINVAL and a one-line
 * reason; a constructor's own failure keeps its reason (or gets a generic
 * one when it left @err empty). A new backend is one row.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/compiler.h"
#include "netbe_internal.h"
#include "spec/virtio_net.h"

struct netbe_kind {
	const char *name;
	const char *usage; /* for messages */
	/* exactly one of the two is set: kinds without / with an argument */
	int (*new_plain)(const struct netbe_options *opt, struct netbe **out, char *err,
			 size_t errlen);
	int (*new_arg)(const char *arg, const struct netbe_options *opt, struct netbe **out,
		       char *err, size_t errlen);
};

static const struct netbe_kind netbe_kinds[] = {
	{"user", "user", netbe_nat_new, NULL},
	{"slirp", "slirp", netbe_slirp_new, NULL},
	{"tap", "tap:IFNAME", NULL, netbe_tap_new},
	{"loop", "loop", netbe_loop_new, NULL},
	{"sink", "sink", netbe_sink_new, NULL},
	{"gen", "gen", netbe_gen_new, NULL},
	{"dgram", "dgram:LADDR:LPORT,RADDR:RPORT", NULL, netbe_dgram_new},
};

int netbe_set_err(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return ret;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

static const struct netbe_kind *netbe_kind_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(netbe_kinds); i++) {
		if (strlen(netbe_kinds[i].name) == len && !memcmp(netbe_kinds[i].name, name, len))
			return &netbe_kinds[i];
	}
	return NULL;
}

VQNET_EXPORT int netbe_new(const char *spec, const struct netbe_options *opt, struct netbe **out,
			   char *err, size_t errlen)
{
	static const struct netbe_options defaults = {.max_queue_pairs = 1,
						      .mtu = VQNET_MTU_DEFAULT};
	const struct netbe_kind *kind;
	const char *colon, *arg = NULL;
	size_t name_len;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return netbe_set_err(err, errlen, -EINVAL, "no place for the backend");
	*out = NULL;
	if (!opt)
		opt = &defaults;
	if (!spec || !*spec)
		return netbe_set_err(
			err, errlen, -EINVAL,
			"empty backend spec (user, slirp, tap:IFNAME, loop, sink, gen, "
			"dgram:LADDR:LPORT,RADDR:RPORT)");
	if (opt->max_queue_pairs < 1 || opt->max_queue_pairs > VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX)
		return netbe_set_err(err, errlen, -EINVAL, "max_queue_pairs %u out of range 1..%u",
				     opt->max_queue_pairs, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MAX);
	colon = strchr(spec, ':');
	name_len = colon ? (size_t)(colon - spec) : strlen(spec);
	kind = netbe_kind_find(spec, name_len);
	if (!kind)
		return netbe_set_err(
			err, errlen, -EINVAL,
			"unknown backend '%.*s' (user, slirp, tap, loop, sink, gen, dgram)",
			(int)(name_len > 32 ? 32 : name_len), spec);
	if (colon)
		arg = colon + 1;
	if (kind->new_plain && arg)
		return netbe_set_err(err, errlen, -EINVAL, "backend '%s' takes no argument",
				     kind->name);
	if (kind->new_arg && (!arg || !*arg))
		return netbe_set_err(err, errlen, -EINVAL, "backend '%s' needs an argument: %s",
				     kind->name, kind->usage);

	assert(!kind->new_plain != !kind->new_arg); /* the table's rule, above */
	ret = kind->new_plain ? kind->new_plain(opt, out, err, errlen)
			      : kind->new_arg(arg, opt, out, err, errlen);
	if (ret < 0) {
		*out = NULL;
		if (err && errlen && !err[0])
			netbe_set_err(err, errlen, ret, "%s: %s", kind->name, strerror(-ret));
		return ret;
	}
	assert(*out && (*out)->ops && (*out)->ops->free);
	assert((*out)->max_queue_pairs >= 1 && (*out)->max_queue_pairs <= opt->max_queue_pairs);
	return 0;
}

VQNET_EXPORT int netbe_start(struct netbe *be)
{
	return be && be->ops->start ? be->ops->start(be) : 0;
}

VQNET_EXPORT void netbe_free(struct netbe *be)
{
	if (be)
		be->ops->free(be);
}

bool netbe_link_always_up(struct netbe *be)
{
	(void)be;
	return true;
}
