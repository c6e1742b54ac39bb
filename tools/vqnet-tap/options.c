/* SPDX-License-Identifier: MIT */
/*
 * vqnet-tap: the command line. Every bad argument is one line on stderr
 * and exit status 2 (base/cli.h); --help documents every option.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vqnet/version.h>

#include "base/cli.h"
#include "vqnet_tap.h"

static const char usage_text[] =
	"usage: vqnet-tap --socket PATH --tap IFNAME [options]\n"
	"\n"
	"Drive the virtio-net device served on a vhost-user socket (vqnetd, DPDK's\n"
	"vhost PMD, any vhost-user-net backend) as a driver, and forward its frames\n"
	"to and from a TAP interface, so the host's (or a namespace's) network stack\n"
	"talks through the backend.\n"
	"\n"
	"  -s, --socket PATH     the backend's vhost-user socket\n"
	"  -c, --client          reconnect when the backend goes (and wait for it at\n"
	"                        start), keeping the TAP; without it a lost backend\n"
	"                        ends vqnet-tap with status 1\n"
	"  -t, --tap IFNAME      the TAP interface: created (with vnet headers, one\n"
	"                        queue per pair), or joined when it exists (then a\n"
	"                        multi_queue vnet_hdr tap); set up by vqnet-tap, its\n"
	"                        addresses are yours to add\n"
	"  -n, --netns NAME      make the TAP in network namespace NAME (from `ip netns\n"
	"                        add`, or a path such as /proc/PID/ns/net); vqnet-tap\n"
	"                        itself stays where it was started\n"
	"  -q, --queues N        queue pairs, one thread and TAP queue each, 1..64\n"
	"                        (default 1)\n"
	"      --split           split rings\n"
	"      --packed          packed rings (default: packed when offered)\n"
	"      --mtu N           the TAP's MTU, 68..65535, when the device offers none\n"
	"                        (VIRTIO_NET_F_MTU; with one, the smaller; default 1500)\n"
	"      --mac MAC         the TAP's MAC (and the device's, when it takes the\n"
	"                        command); default: the device's (VIRTIO_NET_F_MAC),\n"
	"                        else the kernel's random one\n"
	"      --no-offloads     no checksum or segmentation offloads either way\n"
	"                        (default: the ones the device negotiates)\n"
	"      --buf-size BYTES  frame bytes per posted buffer, 1024..65535 (default\n"
	"                        4096: a 64 KB frame is a chain of 16); 65535 keeps\n"
	"                        every frame in one buffer, for a backend that takes\n"
	"                        no chains (passt 2024.12), at 16 times the memory\n"
	"  -h, --help            this text\n"
	"  -V, --version         the version\n"
	"\n"
	"The TAP's carrier follows the device's link. Counters per queue pair (rx:\n"
	"device to TAP, tx: TAP to device) go to stdout at exit and on SIGUSR1.\n"
	"SIGTERM/SIGINT stop. Exit: 0 stopped, 1 run-time failure (no TAP, no\n"
	"backend, backend lost without --client, TAP deleted), 2 bad arguments.\n";

#define usage_error(...) cli_usage_error(VT_PROG, __VA_ARGS__)

enum {
	OPT_SPLIT = 256,
	OPT_PACKED,
	OPT_MTU,
	OPT_BUF_SIZE,
	OPT_MAC,
	OPT_NO_OFFLOADS,
};

/* "aa:bb:cc:dd:ee:ff", unicast. */
static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned b[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6 ||
	    strlen(s) != 17)
		usage_error("--mac: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", s);
	for (unsigned i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	if (mac[0] & 1)
		usage_error("--mac: %s is a multicast address", s);
}

static void check_ifname(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len >= IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		usage_error("--tap: '%s' is not an interface name (1 to %d characters)", s,
			    IFNAMSIZ - 1);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == '/' || s[i] == ':' ||
		    (unsigned char)s[i] >= 0x7f)
			usage_error("--tap: bad character in interface name '%s'", s);
}

static void parse_one(int c, const char *arg, struct vt_opts *o)
{
	switch (c) {
	case 's':
		o->socket = arg;
		break;
	case 'c':
		o->client = true;
		break;
	case 't':
		check_ifname(arg);
		o->ifname = arg;
		break;
	case 'n':
		if (!arg[0])
			usage_error("--netns: empty name");
		o->netns = arg;
		break;
	case 'q':
		o->queues =
			(unsigned)cli_number(VT_PROG, "--queues", arg, 1, VNET_DRV_MAX_QUEUE_PAIRS);
		break;
	case OPT_SPLIT:
		o->ring = VNET_DRV_RING_SPLIT;
		break;
	case OPT_PACKED:
		o->ring = VNET_DRV_RING_PACKED;
		break;
	case OPT_MTU:
		o->mtu = (unsigned)cli_number(VT_PROG, "--mtu", arg, 68, 65535);
		break;
	case OPT_BUF_SIZE:
		o->buf_size = (unsigned)cli_number(VT_PROG, "--buf-size", arg, 1024, 65535);
		break;
	case OPT_MAC:
		parse_mac(arg, o->mac);
		o->have_mac = true;
		break;
	case OPT_NO_OFFLOADS:
		o->offloads = false;
		break;
	}
}

void vt_parse_options(int argc, char **argv, struct vt_opts *o)
{
	static const struct option lo[] = {
		{"socket", required_argument, NULL, 's'},
		{"client", no_argument, NULL, 'c'},
		{"tap", required_argument, NULL, 't'},
		{"netns", required_argument, NULL, 'n'},
		{"queues", required_argument, NULL, 'q'},
		{"split", no_argument, NULL, OPT_SPLIT},
		{"packed", no_argument, NULL, OPT_PACKED},
		{"mtu", required_argument, NULL, OPT_MTU},
		{"mac", required_argument, NULL, OPT_MAC},
		{"buf-size", required_argument, NULL, OPT_BUF_SIZE},
		{"no-offloads", no_argument, NULL, OPT_NO_OFFLOADS},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct vt_opts){
		.queues = 1, .ring = VNET_DRV_RING_ANY, .offloads = true, .buf_size = 4096};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:ct:n:q:hV", lo, NULL)) != -1) {
		switch (c) {
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf(VT_PROG " %s\n", VQNET_VERSION);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		case '?':
			usage_error("unknown option '%s'", argv[optind - 1]);
		default:
			parse_one(c, optarg, o);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (!o->socket)
		usage_error("--socket is required");
	if (!o->ifname)
		usage_error("--tap is required");
}
