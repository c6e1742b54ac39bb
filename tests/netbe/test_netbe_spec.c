/* SPDX-License-Identifier: MIT */
/*
 * netbe_new() and its spec table (netbe_fixture.h has the helpers): good
 * specs open, bad ones fail with -EINVAL and a reason; options checked, a
 * short error buffer cut, a port in use reported by the constructor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vqnet/netbe.h>

#include "netbe_fixture.h"

static void test_spec_good(void **state)
{
	static const char *const good[] = {
		"user",
		"slirp",
		"loop",
		"sink",
		"gen",
		"dgram:127.0.0.1:0,127.0.0.1:9",
		"dgram:[::1]:0,[::1]:9",
	};
	struct netbe_options o = opts(2);

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char err[256] = "x";
		struct netbe *be = NULL;
		int ret = netbe_new(good[i], &o, &be, err, sizeof(err));

		if (ret == -EADDRNOTAVAIL && strchr(good[i], '['))
			continue; /* no IPv6 loopback here */
		if (ret)
			print_error("%s: %d %s\n", good[i], ret, err);
		assert_int_equal(ret, 0);
		assert_non_null(be);
		assert_string_equal(err, "");
		assert_true(be->max_queue_pairs == 2);
		assert_string_equal(be->ops->name, good[i][0] == 'd' ? "dgram" : good[i]);
		netbe_free(be);
	}
	/* No options: one queue pair. */
	{
		struct netbe *be = NULL;

		assert_int_equal(netbe_new("loop", NULL, &be, NULL, 0), 0);
		assert_int_equal(be->max_queue_pairs, 1);
		netbe_free(be);
	}
	netbe_free(NULL);
}

static void test_spec_bad(void **state)
{
	static const struct {
		const char *spec;
		const char *why; /* a part of the message */
	} bad[] = {
		{"", "empty backend spec"},
		{"bogus", "unknown backend 'bogus'"},
		{"loopx", "unknown backend 'loopx'"},
		{"loop:1", "takes no argument"},
		{"sink:", "takes no argument"},
		{"user:x", "takes no argument"},
		{"slirp:x", "takes no argument"},
		{"nat", "unknown backend 'nat' (user, slirp,"},
		{"tap", "needs an argument: tap:IFNAME"},
		{"tap:", "needs an argument"},
		{"tap:abcdefghijklmnop", "bad interface name"},
		{"tap:a/b", "bad character"},
		{"tap:a b", "bad character"},
		{"tap:..", "bad interface name"},
		{"dgram", "needs an argument"},
		{"dgram:127.0.0.1:1", "want dgram:LADDR:LPORT,RADDR:RPORT"},
		{"dgram:127.0.0.1,127.0.0.1:2", "local address '127.0.0.1' has no port"},
		{"dgram:127.0.0.1:1,127.0.0.1", "remote address '127.0.0.1' has no port"},
		{"dgram:127.0.0.1:99999,127.0.0.1:2", "bad local port '99999'"},
		{"dgram:127.0.0.1:-1,127.0.0.1:2", "bad local port '-1'"},
		{"dgram:127.0.0.1:1,127.0.0.1:x", "bad remote port 'x'"},
		{"dgram:localhost:1,127.0.0.1:2", "bad local IPv4 address 'localhost'"},
		{"dgram:::1:1,127.0.0.1:2", "bad local IPv4 address"},
		{"dgram:[::1:1,[::1]:2", "want [ADDR6]:PORT"},
		{"dgram:[zz]:1,[::1]:2", "bad local IPv6 address 'zz'"},
		{"dgram:[::1]:1,127.0.0.1:2", "different families"},
		{"dgram:127.0.0.1:1,127.0.0.1:0", "remote port 0"},
		{"dgram:,127.0.0.1:2", "bad local address"},
	};
	struct netbe_options o = opts(1);

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[256] = "";
		struct netbe *be = (struct netbe *)&o; /* must be cleared */
		int ret = netbe_new(bad[i].spec, &o, &be, err, sizeof(err));

		if (ret != -EINVAL || !strstr(err, bad[i].why))
			print_error("'%s': %d '%s', want '%s'\n", bad[i].spec, ret, err,
				    bad[i].why);
		assert_int_equal(ret, -EINVAL);
		assert_null(be);
		assert_non_null(strstr(err, bad[i].why));
		assert_null(strchr(err, '\n'));
	}
}

static void test_spec_options(void **state)
{
	struct netbe_options o = opts(0);
	struct netbe *be = NULL;
	char err[256];
	char tiny[8];

	(void)state;
	assert_int_equal(netbe_new("loop", &o, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "max_queue_pairs 0"));
	o = opts(1);
	o.gen_frame_size = 59;
	assert_int_equal(netbe_new("gen", &o, &be, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "frame size 59"));
	o.gen_frame_size = 65536;
	assert_int_equal(netbe_new("gen", &o, &be, err, sizeof(err)), -EINVAL);
	/* A short err buffer is cut, still terminated; none at all is fine. */
	assert_int_equal(netbe_new("nope", &o, &be, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
	assert_int_equal(netbe_new("nope", &o, &be, NULL, 0), -EINVAL);
	/* A port in use: the constructor's own reason. */
	{
		int s = socket(AF_INET, SOCK_DGRAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof(a);
		char spec[64];

		assert_true(s >= 0);
		assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
		assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
		snprintf(spec, sizeof(spec), "dgram:127.0.0.1:%u,127.0.0.1:9", ntohs(a.sin_port));
		assert_int_equal(netbe_new(spec, &o, &be, err, sizeof(err)), -EADDRINUSE);
		assert_non_null(strstr(err, "dgram: bind"));
		close(s);
	}
}

/* --net / --net6 (user, slirp): well-formed networks open, anything else
 * is refused with the reason. */
static void test_spec_usernet(void **state)
{
	static const struct {
		const char *net4, *net6, *why;
	} bad[] = {
		{"10.9.0.1/24", NULL, "host bits set (the network is 10.9.0.0/24)"},
		{"10.9.0.0/28", NULL, "prefix length must be 8..27"},
		{"10.9.0.0/7", NULL, "prefix length must be 8..27"},
		{"10.9.0.0", NULL, "not ADDR/LEN"},
		{"10.9.0.0/", NULL, "not ADDR/LEN"},
		{"10.9.0.0/24x", NULL, "not ADDR/LEN"},
		{"fd09::/64", NULL, "not ADDR/LEN"},
		{NULL, "fd09::/48", "prefix length must be 64"},
		{NULL, "fd09::1/64", "bits set past the /64"},
		{NULL, "10.9.0.0/24", "not PREFIX/64"},
	};
	static const char *const specs[] = {"user", "slirp"};
	struct netbe *be = NULL;
	char err[256];

	(void)state;
	for (unsigned s = 0; s < 2; s++) {
		struct netbe_options o = opts(1);

		o.resolv_conf = "/dev/null";
		o.net4 = "10.9.0.0/24";
		o.net6 = "fd09::/64";
		assert_int_equal(netbe_new(specs[s], &o, &be, err, sizeof(err)), 0);
		netbe_free(be);
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			o.net4 = bad[i].net4;
			o.net6 = bad[i].net6;
			err[0] = '\0';
			assert_int_equal(netbe_new(specs[s], &o, &be, err, sizeof(err)), -EINVAL);
			if (!strstr(err, bad[i].why))
				fail_msg("%s: '%s' '%s': %s", specs[s],
					 bad[i].net4 ? bad[i].net4 : "",
					 bad[i].net6 ? bad[i].net6 : "", err);
		}
	}
}
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_good),
		cmocka_unit_test(test_spec_bad),
		cmocka_unit_test(test_spec_options),
		cmocka_unit_test(test_spec_usernet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
