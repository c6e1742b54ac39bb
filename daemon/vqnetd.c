/* SPDX-License-Identifier: MIT */
/*
 * vqnetd: a virtio-net device served over vhost-user (QEMU -netdev
 * vhost-user, cloud-hypervisor --net vhost_user=true, DPDK virtio-user),
 * with its frames going to a network backend (include/vqnet/netbe.h).
 *
 * Theory of operation: main() is the daemon's life, one function a step.
 * Parse the command line (parse_args; bad arguments: one line on stderr,
 * exit 2). Set up (open_signals, open_backend, open_device, open_control,
 * open_socket; each 0 or -errno, what was opened is released by stop()): a
 * signalfd, the network backend, the device (net_dev), the operator's
 * sockets (control socket, metrics: ctlsrv.c, docs/control.md) and the
 * vhost-user backend that serves the device on its socket. Confine (sandbox.c): give up the ids,
 * privileges and capabilities that serving does not need, then start the
 * backend's threads (held back so they inherit the confinement). Serve (serve): the control loop on
 * the main thread, poll() over the vhost-user socket, the control queue's kick fd, the signalfd
 * and the operator's sockets.
 * The device runs one worker thread per queue pair; the signals are blocked before any thread
 * starts, so only the signalfd sees them. SIGUSR1 prints the counters without stopping. Stop
 * (stop): SIGTERM/SIGINT or --seconds end the loop; the vhost-user backend is freed first (it stops
 * every ring through the device), then the counters are printed and the device freed, then the
 * network backend.
 *
 * Exit codes: 0 stopped by a signal or --seconds; 1 a run-time failure
 * (socket, backend, device); 2 bad arguments.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <vqnet/net_dev.h>
#include <vqnet/netbe.h>
#include <vqnet/log.h>
#include <vqnet/vhost_user.h>
#include <vqnet/version.h>

#include "base/cli.h"
#include "control.h"
#include "ctlsrv.h"
#include "capture.h"
#include "sandbox.h"
#include "service.h"
#include "syslog_sink.h"
#include "state.h"
#include "base/clock.h"

#define MAX_HOSTFWD	32
#define MAX_DNS		3
#define CLIENT_RETRY_MS 100
#define EXIT_RUNTIME	1
#define EXIT_USAGE	2

/* --mtu's default for the user and slirp backends: passt's, the largest
 * IPv4 MTU a 64 KiB frame buffer holds with its headers. */
#define VQNETD_USER_MTU_DEFAULT 65520u

struct options {
	const char *socket_path;
	bool client;
	const char *backend;
	const char *state_dir; /* --state-dir; NULL: the default */
	unsigned queues;
	uint8_t mac[6];
	unsigned mtu; /* 0: not set */
	const char *hostfwd[MAX_HOSTFWD];
	unsigned n_hostfwd;
	const char *dns[MAX_DNS];
	unsigned n_dns;
	const char *net4, *net6; /* --net, --net6 */
	int tap_fds[NET_DEV_MAX_QUEUE_PAIRS];
	unsigned n_tap_fds;
	bool tap_writev; /* --tap-writev */
	struct net_dev_rate rx_rate, tx_rate;
	unsigned poll_us;
	unsigned gen_size;
	uint64_t features_off;
	long seconds; /* 0: run until a signal */
	struct sandbox_opts sandbox;
	int listen_fd;		    /* socket activation: the socket passed, else -1 */
	const char *control;	    /* --control PATH, "none"; NULL: SOCKET.ctl */
	const char *metrics_listen; /* --metrics-listen ADDR:PORT, or NULL */
	const char *log_target;	    /* "stderr", "syslog" or "syslog:PATH" */
	struct capture_opts capture;
	const char *capture_dir; /* --capture-dir DIR, or NULL */
};

static const char usage_text[] =
	"usage: vqnetd --socket PATH [options]\n"
	"\n"
	"Serve a virtio-net device over vhost-user on PATH.\n"
	"\n"
	"  -s, --socket PATH        vhost-user socket (listened on; see --client)\n"
	"  -c, --client             connect to PATH instead (retried while absent)\n"
	"  -b, --backend SPEC       where frames go (default: user):\n"
	"                             user            user-mode networking by socket\n"
	"                                             translation (the default): each\n"
	"                                             guest flow is a host socket; DHCP,\n"
	"                                             DNS, IPv6; no privileges needed\n"
	"                             slirp           user-mode networking (libslirp): NAT,\n"
	"                                             DHCP, DNS; no privileges needed\n"
	"                             tap:IFNAME      a TAP device (created if absent)\n"
	"                             loop            frames come back to the guest\n"
	"                             sink            frames are read and dropped\n"
	"                             gen             frames are generated (benchmarks)\n"
	"                             dgram:LADDR:LPORT,RADDR:RPORT\n"
	"                                             one UDP datagram per frame\n"
	"      --state-dir DIR      restart state file DIR/SOCKET.state (default:\n"
	"                           $RUNTIME_DIRECTORY, else the socket's directory;\n"
	"                           'none': no state, a restart loses chains in flight)\n"
	"  -q, --queues N           queue pairs, 1..64 (default 1)\n"
	"  -m, --mac MAC            device MAC address (default 52:54:00:12:34:56)\n"
	"      --mtu N              MTU offered to the driver, 68..65535 (default 1500;\n"
	"                           65520 with the user and slirp backends, far faster\n"
	"                           so; QEMU 7.2 shows the guest an MTU only with\n"
	"                           host_mtu=N on its virtio-net-pci device)\n"
	"      --hostfwd RULE       user, slirp: forward tcp|udp:[HOSTADDR:]HOSTPORT:GUESTPORT\n"
	"                           from the host to the guest (repeatable)\n"
	"      --dns ADDR[:PORT]    user: a host DNS server for the guest's queries to\n"
	"                           10.0.2.3 / fec0::3, host 3 of --net / --net6 (IPv6:\n"
	"                           [ADDR6][:PORT]; port 53;\n"
	"                           repeatable, up to 3; default: the nameservers of\n"
	"                           /etc/resolv.conf)\n"
	"      --net ADDR/LEN       user, slirp: the guest's IPv4 network, /8../27\n"
	"                           (default 10.0.2.0/24); gateway host 2 (the host's\n"
	"                           loopback), DNS host 3, the guest's lease host 15\n"
	"      --net6 PREFIX/64     user, slirp: the IPv6 prefix (default fec0::/64;\n"
	"                           gateway ::2, DNS ::3, DHCPv6 lease ::15)\n"
	"      --tap-fd FD          tap: use this open TAP queue fd (one per queue pair,\n"
	"                           repeatable; e.g. passed by a management tool)\n"
	"      --tap-writev         tap: one writev()/readv() per frame instead of a\n"
	"                           burst per io_uring_enter() (the default where the\n"
	"                           kernel allows io_uring; the ring can do writev\n"
	"                           and readv only)\n"
	"      --rx-rate RATE       limit guest receive: BYTES[k|M|G][:PACKETS[k|M]] per s\n"
	"      --tx-rate RATE       limit guest transmit, same format\n"
	"      --poll-us N          busy-poll N us before sleeping (default 0)\n"
	"      --gen-size BYTES     gen: frame size (default 64)\n"
	"      --no-packed          do not offer VIRTIO_F_RING_PACKED\n"
	"      --no-event-idx       do not offer VIRTIO_F_EVENT_IDX\n"
	"      --no-mrg-rxbuf       do not offer VIRTIO_NET_F_MRG_RXBUF\n"
	"      --seconds N          stop after N seconds\n"
	"      --sandbox on|off     confine vqnetd once set up (default on): no new\n"
	"                           privileges, not dumpable, every capability dropped,\n"
	"                           no filesystem (Landlock), a system-call allow-list\n"
	"                           per thread (seccomp); see docs/security.md\n"
	"      --user USER          once set up, run as USER (name or uid); the socket\n"
	"                           and a TAP are opened before, with the start's rights\n"
	"      --group GROUP        and as GROUP (default: USER's group)\n"
	"      --sandbox-selftest KIND  (tests) once confined, the first thread of KIND\n"
	"                           (control|worker|slirp) calls execve: vqnetd must die\n"
	"                           of SIGSYS; landlock: the slirp thread checks it can\n"
	"                           read /etc/resolv.conf and not /etc/passwd (exit 0);\n"
	"                           slirp and landlock need --backend slirp\n"
	"      --control PATH|none  the control socket for vqnetctl (default: the\n"
	"                           --socket path with .ctl appended; mode 0600)\n"
	"      --metrics-listen ADDR:PORT  serve Prometheus metrics at GET /metrics\n"
	"                           (e.g. 127.0.0.1:9100; [::1]:9100)\n"
	"  -l, --log-level LEVEL    error|warn|info|debug (default warn)\n"
	"      --log-target T       stderr (default) or syslog[:PATH] (default /dev/log)\n"
	"      --capture FILE       write the frames of both directions to FILE (pcap,\n"
	"                           created at start, replaced if it exists)\n"
	"      --capture-filter EXPR  only frames matching this pcap-filter(7) expression\n"
	"      --capture-snaplen N  bytes kept of each frame, 1..65535 (default 65535)\n"
	"      --capture-max-bytes N  stop writing once the file would pass N bytes\n"
	"      --capture-dir DIR    where `vqnetctl capture start NAME` may create new\n"
	"                           capture files while vqnetd runs (nowhere without it)\n"
	"  -h, --help               this text\n"
	"  -V, --version            the version\n"
	"\n"
	"Signals: SIGTERM/SIGINT stop (counters printed to stdout); SIGUSR1 prints\n"
	"the counters. Exit status: 0 stopped, 1 run-time failure, 2 bad arguments.\n";

#define usage_error(...) cli_usage_error("vqnetd", __VA_ARGS__)

/* A whole decimal number in [min, max], or usage_error. */
static unsigned long parse_number(const char *opt, const char *s, unsigned long min,
				  unsigned long max)
{
	return cli_number("vqnetd", opt, s, min, max);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6 ||
	    strlen(s) != 17)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	/* A device address must be unicast (bit 0 of the first octet clear). */
	return !(mac[0] & 1) && (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]);
}

enum {
	OPT_MTU = 256,
	OPT_HOSTFWD,
	OPT_DNS,
	OPT_NET,
	OPT_NET6,
	OPT_TAP_FD,
	OPT_TAP_WRITEV,
	OPT_RX_RATE,
	OPT_TX_RATE,
	OPT_POLL_US,
	OPT_GEN_SIZE,
	OPT_NO_PACKED,
	OPT_NO_EVENT_IDX,
	OPT_NO_MRG_RXBUF,
	OPT_SECONDS,
	OPT_SANDBOX,
	OPT_USER,
	OPT_GROUP,
	OPT_SANDBOX_SELFTEST,
	OPT_CONTROL,
	OPT_METRICS_LISTEN,
	OPT_LOG_TARGET,
	OPT_CAPTURE,
	OPT_CAPTURE_FILTER,
	OPT_CAPTURE_SNAPLEN,
	OPT_CAPTURE_MAX_BYTES,
	OPT_CAPTURE_DIR,
	OPT_STATE_DIR,
};

static const struct option longopts[] = {
	{"socket", required_argument, NULL, 's'},
	{"client", no_argument, NULL, 'c'},
	{"backend", required_argument, NULL, 'b'},
	{"queues", required_argument, NULL, 'q'},
	{"mac", required_argument, NULL, 'm'},
	{"mtu", required_argument, NULL, OPT_MTU},
	{"hostfwd", required_argument, NULL, OPT_HOSTFWD},
	{"dns", required_argument, NULL, OPT_DNS},
	{"net", required_argument, NULL, OPT_NET},
	{"net6", required_argument, NULL, OPT_NET6},
	{"tap-fd", required_argument, NULL, OPT_TAP_FD},
	{"tap-writev", no_argument, NULL, OPT_TAP_WRITEV},
	{"rx-rate", required_argument, NULL, OPT_RX_RATE},
	{"tx-rate", required_argument, NULL, OPT_TX_RATE},
	{"poll-us", required_argument, NULL, OPT_POLL_US},
	{"gen-size", required_argument, NULL, OPT_GEN_SIZE},
	{"no-packed", no_argument, NULL, OPT_NO_PACKED},
	{"no-event-idx", no_argument, NULL, OPT_NO_EVENT_IDX},
	{"no-mrg-rxbuf", no_argument, NULL, OPT_NO_MRG_RXBUF},
	{"seconds", required_argument, NULL, OPT_SECONDS},
	{"sandbox", required_argument, NULL, OPT_SANDBOX},
	{"user", required_argument, NULL, OPT_USER},
	{"group", required_argument, NULL, OPT_GROUP},
	{"sandbox-selftest", required_argument, NULL, OPT_SANDBOX_SELFTEST},
	{"control", required_argument, NULL, OPT_CONTROL},
	{"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
	{"log-target", required_argument, NULL, OPT_LOG_TARGET},
	{"capture", required_argument, NULL, OPT_CAPTURE},
	{"capture-filter", required_argument, NULL, OPT_CAPTURE_FILTER},
	{"capture-snaplen", required_argument, NULL, OPT_CAPTURE_SNAPLEN},
	{"capture-max-bytes", required_argument, NULL, OPT_CAPTURE_MAX_BYTES},
	{"capture-dir", required_argument, NULL, OPT_CAPTURE_DIR},
	{"state-dir", required_argument, NULL, OPT_STATE_DIR},
	{"log-level", required_argument, NULL, 'l'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* --rx-rate/--tx-rate (@opt) RATE into @r, or usage_error. */
static void parse_rate(const char *opt, const char *s, struct net_dev_rate *r)
{
	if (net_dev_rate_parse(s, r))
		usage_error("%s: '%s' is not BYTES[k|M|G][:PACKETS[k|M]]", opt, s);
}

/* --log-level LEVEL, applied at once (it covers the rest of the parse), or usage_error. */
static void set_log_level(const char *s)
{
	int level = vqnet_log_level_parse(s);

	if (level < 0)
		usage_error("--log-level: '%s' is not error|warn|info|debug", s);
	vqnet_log_set_level((enum vqnet_log_level)level);
}

/* --metrics-listen ADDR:PORT, or usage_error. */
static void parse_listen(const char *s)
{
	struct sockaddr_storage sa;
	socklen_t len;

	if (ctlsrv_parse_listen(s, &sa, &len))
		usage_error("--metrics-listen: '%s' is not ADDR:PORT (e.g. 127.0.0.1:9100)", s);
}

/* Where the frontend and the frames are: --socket, --client, --backend and
 * the backends' own options (--hostfwd, --tap-fd, --gen-size), from optarg.
 * False if @c is none of them. */
static bool parse_backend_option(int c, struct options *o)
{
	switch (c) {
	case 's':
		o->socket_path = optarg;
		break;
	case 'c':
		o->client = true;
		break;
	case 'b':
		o->backend = optarg;
		break;
	case OPT_HOSTFWD:
		if (o->n_hostfwd == MAX_HOSTFWD)
			usage_error("--hostfwd: at most %d rules", MAX_HOSTFWD);
		o->hostfwd[o->n_hostfwd++] = optarg;
		break;
	case OPT_DNS:
		if (o->n_dns == MAX_DNS)
			usage_error("--dns: at most %d servers", MAX_DNS);
		o->dns[o->n_dns++] = optarg;
		break;
	case OPT_NET:
		o->net4 = optarg;
		break;
	case OPT_NET6:
		o->net6 = optarg;
		break;
	case OPT_TAP_FD:
		if (o->n_tap_fds == NET_DEV_MAX_QUEUE_PAIRS)
			usage_error("--tap-fd: at most %u fds", NET_DEV_MAX_QUEUE_PAIRS);
		o->tap_fds[o->n_tap_fds++] = (int)parse_number("--tap-fd", optarg, 0, INT_MAX);
		break;
	case OPT_TAP_WRITEV:
		o->tap_writev = true;
		break;
	case OPT_STATE_DIR:
		o->state_dir = optarg;
		break;
	case OPT_GEN_SIZE:
		o->gen_size = (unsigned)parse_number("--gen-size", optarg, 60, 65535);
		break;
	default:
		return false;
	}
	return true;
}

/* The device the driver sees: --queues, --mac, --mtu, --rx-rate, --tx-rate,
 * --poll-us, from optarg. False if @c is none of them. */
static bool parse_device_option(int c, struct options *o)
{
	switch (c) {
	case 'q':
		o->queues = (unsigned)parse_number("--queues", optarg, 1, NET_DEV_MAX_QUEUE_PAIRS);
		break;
	case 'm':
		if (!parse_mac(optarg, o->mac))
			usage_error("--mac: '%s' is not a unicast MAC address like "
				    "52:54:00:12:34:56",
				    optarg);
		break;
	case OPT_MTU:
		o->mtu = (unsigned)parse_number("--mtu", optarg, 68, 65535);
		break;
	case OPT_RX_RATE:
		parse_rate("--rx-rate", optarg, &o->rx_rate);
		break;
	case OPT_TX_RATE:
		parse_rate("--tx-rate", optarg, &o->tx_rate);
		break;
	case OPT_POLL_US:
		o->poll_us = (unsigned)parse_number("--poll-us", optarg, 0, 1000000);
		break;
	default:
		return false;
	}
	return true;
}

/* --capture and its settings; false for any other option. */
static bool parse_capture_option(int c, struct options *o)
{
	switch (c) {
	case OPT_CAPTURE:
		o->capture.file = optarg;
		return true;
	case OPT_CAPTURE_FILTER:
		o->capture.filter = optarg;
		return true;
	case OPT_CAPTURE_SNAPLEN:
		o->capture.snaplen = (uint32_t)parse_number("--capture-snaplen", optarg, 1, 65535);
		return true;
	case OPT_CAPTURE_MAX_BYTES:
		o->capture.max_bytes = parse_number("--capture-max-bytes", optarg, 1, ULONG_MAX);
		return true;
	case OPT_CAPTURE_DIR:
		o->capture_dir = optarg;
		return true;
	default:
		return false;
	}
}

/* --sandbox, --user, --group; false for any other option. */
static bool parse_sandbox_option(int c, struct options *o)
{
	switch (c) {
	case OPT_SANDBOX:
		if (strcmp(optarg, "on") && strcmp(optarg, "off"))
			usage_error("--sandbox: '%s' is not on|off", optarg);
		o->sandbox.off = !strcmp(optarg, "off");
		return true;
	case OPT_USER:
		if (sandbox_parse_user(optarg, &o->sandbox) < 0)
			usage_error("--user: no user '%s'", optarg);
		return true;
	case OPT_GROUP:
		if (sandbox_parse_group(optarg, &o->sandbox) < 0)
			usage_error("--group: no group '%s'", optarg);
		return true;
	case OPT_SANDBOX_SELFTEST:
		o->sandbox.selftest = sandbox_selftest_parse(optarg);
		if (o->sandbox.selftest < 0)
			usage_error("--sandbox-selftest: '%s' is not control|worker|slirp|landlock",
				    optarg);
		return true;
	default:
		return false;
	}
}

/* getopt_long() refused the option just read: name it and exit 2. */
static void __attribute__((noreturn)) unknown_option(char **argv)
{
	if (optopt)
		usage_error("unknown option '-%c'", optopt);
	usage_error("unknown option '%s'", argv[optind - 1]);
}

/* The rules across options, once every option is read; usage_error on the
 * first one broken. */
static void check_options(const struct options *o)
{
	if (!o->socket_path)
		usage_error("--socket PATH is required");
	if (o->n_hostfwd && strcmp(o->backend, "user") != 0 && strcmp(o->backend, "slirp") != 0)
		usage_error("--hostfwd only applies to --backend user or slirp");
	if (o->n_dns && strcmp(o->backend, "user") != 0)
		usage_error("--dns only applies to --backend user");
	if ((o->net4 || o->net6) && strcmp(o->backend, "user") != 0 &&
	    strcmp(o->backend, "slirp") != 0)
		usage_error("--net and --net6 only apply to --backend user or slirp");
	if (o->n_tap_fds && strncmp(o->backend, "tap:", 4) != 0)
		usage_error("--tap-fd only applies to --backend tap:IFNAME");
	if (o->tap_writev && strncmp(o->backend, "tap:", 4) != 0)
		usage_error("--tap-writev only applies to --backend tap:IFNAME");
	if (o->n_tap_fds && o->n_tap_fds != o->queues)
		usage_error("--tap-fd: %u fds for %u queue pairs (one per pair)", o->n_tap_fds,
			    o->queues);
	if (o->sandbox.off && o->sandbox.switch_ids)
		usage_error("--user/--group need the sandbox (not --sandbox off)");
	if ((o->sandbox.selftest == SANDBOX_SELFTEST_SLIRP ||
	     o->sandbox.selftest == SANDBOX_SELFTEST_LANDLOCK) &&
	    strcmp(o->backend, "slirp") != 0)
		usage_error("--sandbox-selftest slirp|landlock needs --backend slirp");
	if ((o->capture.filter || o->capture.max_bytes) && !o->capture.file)
		usage_error("--capture-filter/--capture-max-bytes need --capture FILE");
	if (o->sandbox.off && o->sandbox.selftest >= 0)
		usage_error("--sandbox-selftest needs the sandbox (not --sandbox off)");
}

/*
 * Parse: the command line into @o. A bad argument prints one line on stderr
 * and exits 2; --help and --version print and exit 0. The backend and device
 * options go to their helpers; handled here are the features not offered
 * (--no-*), the run's length, the log level and what ends the parse.
 */
static void parse_args(int argc, char **argv, struct options *o)
{
	int c;

	*o = (struct options){
		.backend = "user",
		.queues = 1,
		.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
		.gen_size = 64,
		.sandbox = {.selftest = -1, .capture_dir_fd = -1},
		.listen_fd = -1,
		.capture = {.snaplen = 65535},
	};
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:cb:q:m:l:hV", longopts, NULL)) != -1) {
		if (parse_backend_option(c, o) || parse_device_option(c, o) ||
		    parse_sandbox_option(c, o) || parse_capture_option(c, o))
			continue;
		switch (c) {
		case OPT_NO_PACKED:
			o->features_off |= 1ull << VIRTIO_F_RING_PACKED;
			break;
		case OPT_NO_EVENT_IDX:
			o->features_off |= 1ull << VIRTIO_F_EVENT_IDX;
			break;
		case OPT_NO_MRG_RXBUF:
			o->features_off |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
			break;
		case OPT_SECONDS:
			o->seconds = (long)parse_number("--seconds", optarg, 1, 86400 * 365);
			break;
		case OPT_CONTROL:
			o->control = optarg;
			break;
		case OPT_METRICS_LISTEN:
			parse_listen(optarg);
			o->metrics_listen = optarg;
			break;
		case 'l':
			set_log_level(optarg);
			break;
		case OPT_LOG_TARGET:
			if (strcmp(optarg, "stderr") && strcmp(optarg, "syslog") &&
			    strncmp(optarg, "syslog:", 7))
				usage_error("--log-target: '%s' is not stderr|syslog[:PATH]",
					    optarg);
			o->log_target = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V':
			printf("vqnetd %s\n", VQNET_VERSION);
			exit(0);
		case ':':
			usage_error("%s needs a value", argv[optind - 1]);
		default:
			unknown_option(argv);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	check_options(o);
	/* The user and slirp backends move far more per frame at a large MTU
	 * (docs/vqnetd.md "The user backend", "The slirp backend"): their
	 * default, offered as VIRTIO_NET_F_MTU. */
	if (!o->mtu && (!strcmp(o->backend, "user") || !strcmp(o->backend, "slirp")))
		o->mtu = VQNETD_USER_MTU_DEFAULT;
	o->sandbox.resolv_conf = !strcmp(o->backend, "slirp");
	o->sandbox.host_sockets = !strcmp(o->backend, "user");
}

/* One line per virtqueue that ever started, then the totals (the format the interop tests
 * parse; documented in docs/vqnetd.md). */
static void print_counters(const struct net_dev *dev, FILE *f)
{
	unsigned nq = net_dev_num_queues(dev);
	uint64_t rx = 0, tx = 0, drops = 0, errors = 0;

	for (unsigned i = 0; i < nq; i++) {
		struct net_dev_queue_stats s;
		uint64_t d = 0;
		const char *kind = i == nq - 1 ? "ctrlq" : (i % 2 ? "txq" : "rxq");

		if (net_dev_queue_stats(dev, i, &s) || !s.starts)
			continue; /* never started (QEMU keeps the control queue) */
		for (unsigned r = 0; r < NET_DEV_DROP__COUNT; r++)
			d += s.drops[r];
		if (i == nq - 1)
			fprintf(f,
				"vqnetd: queue %u %s: packets=%" PRIu64 " bytes=%" PRIu64
				" drops=%" PRIu64 " errors=%" PRIu64 "\n",
				i, kind, s.packets, s.bytes, d, s.errors);
		else
			fprintf(f,
				"vqnetd: queue %u %s%u: packets=%" PRIu64 " bytes=%" PRIu64
				" drops=%" PRIu64 " errors=%" PRIu64 "\n",
				i, kind, i / 2, s.packets, s.bytes, d, s.errors);
		if (i < nq - 1 && i % 2 == 0)
			rx += s.packets;
		else if (i < nq - 1)
			tx += s.packets;
		drops += d;
		errors += s.errors;
	}
	net_dev_print_stats(dev, f);
	fprintf(f,
		"vqnetd: total rx_packets=%" PRIu64 " tx_packets=%" PRIu64 " drops=%" PRIu64
		" errors=%" PRIu64 "\n",
		rx, tx, drops, errors);
	fflush(f);
}

static int64_t now_ms(void)
{
	return (int64_t)clock_mono_ms();
}

/* Milliseconds poll() may sleep: until the deadline, or -1. */
static int poll_timeout(int64_t deadline_ms, int cap_ms)
{
	int64_t left;

	if (deadline_ms < 0)
		return cap_ms;
	left = deadline_ms - now_ms();
	if (left < 0)
		left = 0;
	if (cap_ms >= 0 && left > cap_ms)
		left = cap_ms;
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* The earlier of two poll() timeouts (-1: none). */
static int min_timeout(int a, int b)
{
	if (a < 0)
		return b;
	return b < 0 || a < b ? a : b;
}

/* What the daemon holds once set up; stop() releases whatever is there. */
struct daemon {
	int sig_fd; /* -1: none */
	struct netbe *be;
	struct net_dev *dev;
	struct vu_backend *vb;
	struct ctlsrv *ctl; /* the control socket, metrics: NULL if neither */
	struct control_ctx cc;
	struct capture *cap;	/* --capture */
	struct vu_state *state; /* NULL: none */
};

/*
 * Set up, first step: SIGTERM, SIGINT and SIGUSR1 go to a signalfd. They are
 * blocked before any thread exists, so every thread inherits the mask and
 * only the signalfd receives them. SIGPIPE is blocked too: a frontend that
 * vanished is seen as EPIPE on the socket instead. 0 or -errno.
 */
static int open_signals(struct daemon *d)
{
	sigset_t sigs;
	int rc;

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGPIPE);
	rc = pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (rc != 0) {
		vqnet_log(VQNET_LOG_ERROR, NULL, "cannot block signals");
		return -rc;
	}
	sigdelset(&sigs, SIGPIPE);
	d->sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (d->sig_fd < 0) {
		rc = -errno;
		vqnet_log(VQNET_LOG_ERROR, NULL, "signalfd: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* The user backend holds one socket per flow (4096 by default), but a
 * login shell's soft fd limit is often 1024: raise it toward the hard
 * limit, or a guest's connections past it would be refused (counted as
 * host-socket drops). Said once when the hard limit is lower. */
#define NAT_FDS_WANTED (4096 + 256)

static void raise_fd_limit(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur >= NAT_FDS_WANTED)
		return;
	r.rlim_cur = r.rlim_max < NAT_FDS_WANTED ? r.rlim_max : NAT_FDS_WANTED;
	if (setrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur < NAT_FDS_WANTED)
		vqnet_log(VQNET_LOG_WARN, NULL,
			  "open files limited to %llu (RLIMIT_NOFILE): the guest's flows beyond "
			  "about that many are refused",
			  (unsigned long long)r.rlim_cur);
}

/*
 * Set up: the network backend (--backend). 0 or -errno; -EINVAL means the
 * command line asked for what the backend cannot be (its line says so and
 * the exit status is 2, as for any bad argument).
 */
static int open_backend(const struct options *o, struct daemon *d)
{
	struct netbe_options bo = {
		.max_queue_pairs = o->queues,
		.mtu = (uint16_t)(o->mtu ? o->mtu : VQNET_MTU_DEFAULT),
		.hostfwd = o->hostfwd,
		.n_hostfwd = o->n_hostfwd,
		.dns = o->dns,
		.n_dns = o->n_dns,
		.net4 = o->net4,
		.net6 = o->net6,
		.tap_fds = o->n_tap_fds ? o->tap_fds : NULL,
		.n_tap_fds = o->n_tap_fds,
		.tap_writev = o->tap_writev,
		.gen_frame_size = o->gen_size,
		.defer_threads = true, /* started after the sandbox (start()) */
		.thread_hook = sandbox_thread_hook(&o->sandbox),
	};
	char err[256] = "";
	int rc;

	memcpy(bo.guest_mac, o->mac, 6);
	if (o->sandbox.host_sockets)
		raise_fd_limit();
	rc = netbe_new(o->backend, &bo, &d->be, err, sizeof(err));
	if (rc == -EINVAL) {
		fprintf(stderr, "vqnetd: --backend %s: %s (try --help)\n", o->backend,
			err[0] ? err : "invalid");
		return -EINVAL;
	}
	if (rc) {
		vqnet_log(VQNET_LOG_ERROR, NULL, "backend %s: %s", o->backend,
			  err[0] ? err : strerror(-rc));
		return rc;
	}
	if (d->be->max_queue_pairs < o->queues) {
		fprintf(stderr, "vqnetd: --queues %u: backend %s serves at most %u (try --help)\n",
			o->queues, o->backend, d->be->max_queue_pairs);
		return -EINVAL;
	}
	return 0;
}

/* Set up: the virtio-net device, its frames going to the backend. 0 or -errno. */
static int open_device(const struct options *o, struct daemon *d)
{
	struct net_dev_config dc = {
		.queue_pairs = o->queues,
		.mtu = (uint16_t)o->mtu,
		.rx_rate = o->rx_rate,
		.tx_rate = o->tx_rate,
		.features_off = o->features_off,
		.poll_us = o->poll_us,
		.be = d->be,
		.thread_hook = sandbox_thread_hook(&o->sandbox),
	};
	int rc;

	memcpy(dc.mac, o->mac, 6);
	rc = net_dev_new(&dc, &d->dev);
	if (rc)
		vqnet_log(VQNET_LOG_ERROR, NULL, "device: %s", strerror(-rc));
	return rc;
}

/*
 * Set up, last step: the vhost-user socket serving the device, listened on
 * (or connected to with --client). Its "listening on" line says the daemon
 * is ready. 0 or -errno.
 */
static int open_socket(const struct options *o, struct daemon *d)
{
	struct vu_backend_config vc = {
		.socket_path = o->socket_path,
		.client = o->client,
		.num_queues = net_dev_num_queues(d->dev),
		.device_features = net_dev_features(d->dev),
		.config_size = net_dev_config_size(d->dev),
		.activated = o->listen_fd >= 0,
		.listen_fd = o->listen_fd,
	};
	int rc = state_open(o->state_dir, o->socket_path, o->mac, o->queues, vc.num_queues,
			    &d->state);

	if (rc)
		return rc;
	vc.state = d->state;
	rc = vu_backend_new(&vc, net_dev_vu_ops(), d->dev, &d->vb);

	if (rc) {
		vqnet_log(VQNET_LOG_ERROR, NULL, "vhost-user socket %s: %s", o->socket_path,
			  strerror(-rc));
		return rc;
	}
	net_dev_attach(d->dev, d->vb);
	vqnet_log(VQNET_LOG_INFO, NULL,
		  "%s %s%s, backend %s, %u queue pair%s, mac %02x:%02x:%02x:%02x:%02x:%02x, mtu %u",
		  o->client ? "connecting to" : "listening on", o->socket_path,
		  o->listen_fd >= 0 ? " (socket activation)" : "", o->backend, o->queues,
		  o->queues == 1 ? "" : "s", o->mac[0], o->mac[1], o->mac[2], o->mac[3], o->mac[4],
		  o->mac[5], o->mtu ? o->mtu : VQNET_MTU_DEFAULT);
	return 0;
}

/*
 * Set up: the operator's sockets (daemon/ctlsrv.c), the control socket
 * (--control; default the vhost-user path + ".ctl") and the metrics
 * listener (--metrics-listen), opened now because the sandbox allows no
 * new socket later. 0 or -errno.
 */
static int open_control(const struct options *o, struct daemon *d)
{
	char path[256];
	struct ctlsrv_config cfg = {
		.control_path = o->control,
		.metrics_listen = o->metrics_listen,
		.ops = {.line = control_line, .http = metrics_http},
		.opaque = &d->cc,
	};

	d->cc = (struct control_ctx){
		.dev = d->dev,
		.vb = &d->vb,
		.backend = o->backend,
		.hostfwd = o->hostfwd,
		.n_hostfwd = o->n_hostfwd,
		.socket_path = o->socket_path,
		.client = o->client,
		.sandbox = !o->sandbox.off,
		.start_ms = clock_mono_ms(),
		.capture = &d->cap,
		.capture_dir = o->capture_dir,
		.sandbox_opts = &o->sandbox,
	};
	if (!o->control) {
		snprintf(path, sizeof(path), "%s.ctl", o->socket_path);
		cfg.control_path = path;
		cfg.control_default = true;
	} else if (!strcmp(o->control, "none")) {
		cfg.control_path = NULL;
	}
	if (!cfg.control_path && !cfg.metrics_listen)
		return 0;
	control_prepare();
	return ctlsrv_open(&cfg, &d->ctl);
}

/* Set up: --capture-dir, kept open (O_PATH) for the files `vqnetctl
 * capture start` creates in it once confined. 0 or -errno. */
static int open_capture_dir(struct options *o)
{
	if (!o->capture_dir)
		return 0;
	o->sandbox.capture_dir_fd = open(o->capture_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (o->sandbox.capture_dir_fd < 0) {
		int rc = -errno;

		vqnet_log(VQNET_LOG_ERROR, NULL, "--capture-dir %s: %s", o->capture_dir,
			  strerror(-rc));
		return rc;
	}
	return 0;
}

/* Start the backend's own threads, held back until the sandbox was set
 * (capabilities are per thread). 0 or -errno. */
static int start(const struct daemon *d)
{
	int rc = netbe_start(d->be);

	if (rc)
		vqnet_log(VQNET_LOG_ERROR, NULL, "backend: starting its thread: %s", strerror(-rc));
	return rc;
}

/* The signalfd is readable: SIGUSR1 prints the counters; true for a stop signal. */
static bool read_signal(const struct daemon *d)
{
	struct signalfd_siginfo si;

	if (read(d->sig_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return false;
	if (si.ssi_signo == SIGUSR1) {
		print_counters(d->dev, stdout);
		return false;
	}
	vqnet_log(VQNET_LOG_INFO, NULL, "signal %u, stopping", si.ssi_signo);
	return true;
}

/* The vhost-user socket is ready (or a stalled frontend's time is up):
 * serve the frontend's messages. A lost frontend is only logged; the
 * socket waits for the next one. */
static void serve_frontend(const struct daemon *d)
{
	int rc = vu_backend_dispatch(d->vb);

	if (rc < 0 && rc != -EAGAIN)
		vqnet_log(rc == -ECONNRESET ? VQNET_LOG_INFO : VQNET_LOG_WARN, NULL,
			  "frontend disconnected (%s); waiting for the next one", strerror(-rc));
}

/*
 * Serve: the control loop, poll() over the signalfd, the vhost-user socket
 * and the control queue's kick fd, until a stop signal or the end of
 * --seconds (0). -errno if poll() fails.
 */
static int serve(const struct daemon *d, long seconds)
{
	int64_t deadline = seconds ? now_ms() + seconds * 1000 : -1;

	for (;;) {
		struct pollfd p[3 + CTLSRV_MAX_FDS];
		int n = 0, vu_fd = vu_backend_fd(d->vb), ctrl_fd = net_dev_ctrl_fd(d->dev);
		int vu_i = -1, ctrl_i = -1, ops_i, rc;

		p[n++] = (struct pollfd){.fd = d->sig_fd, .events = POLLIN};
		if (vu_fd >= 0) {
			vu_i = n;
			p[n++] = (struct pollfd){.fd = vu_fd, .events = vu_backend_events(d->vb)};
		}
		if (ctrl_fd >= 0) {
			ctrl_i = n;
			p[n++] = (struct pollfd){.fd = ctrl_fd, .events = POLLIN};
		}
		ops_i = n;
		if (d->ctl)
			n += (int)ctlsrv_poll_fill(d->ctl, p + n);
		/* Client mode while not connected: retry the connection. A
		 * frontend stalled half-way: wake up at its stall limit. */
		rc = poll(p, (nfds_t)n,
			  poll_timeout(deadline,
				       min_timeout(vu_fd < 0 ? CLIENT_RETRY_MS
							     : vu_backend_timeout_ms(d->vb),
						   d->ctl ? ctlsrv_timeout_ms(d->ctl) : -1)));
		if (rc < 0 && errno != EINTR) {
			rc = -errno;
			vqnet_log(VQNET_LOG_ERROR, NULL, "poll: %s", strerror(-rc));
			return rc;
		}
		if (deadline >= 0 && now_ms() >= deadline) {
			vqnet_log(VQNET_LOG_INFO, NULL, "--seconds elapsed, stopping");
			return 0;
		}
		if (d->ctl) /* its clients' deadlines too, so on every turn */
			ctlsrv_poll_handle(d->ctl, p + ops_i, (unsigned)(n - ops_i));
		if (rc <= 0) {
			if (vu_fd < 0)
				vu_backend_dispatch(d->vb);
			else if (vu_backend_timeout_ms(d->vb) == 0)
				serve_frontend(d);
			continue;
		}
		if ((p[0].revents & POLLIN) && read_signal(d))
			return 0;
		if (ctrl_i >= 0 && (p[ctrl_i].revents & (POLLIN | POLLERR | POLLHUP)))
			net_dev_ctrl_process(d->dev);
		if (vu_i >= 0 && (p[vu_i].revents & (POLLIN | POLLOUT | POLLERR | POLLHUP)))
			serve_frontend(d);
	}
}

/*
 * Stop: whatever was set up goes, in this order. The rings stop with the
 * vhost-user backend, then the device's workers end (its counters printed
 * just before), then the network backend goes.
 */
static void stop(struct daemon *d)
{
	ctlsrv_free(d->ctl);
	capture_close(d->cap, NULL, 0);
	if (d->vb)
		vu_backend_free(d->vb);
	if (d->dev) {
		print_counters(d->dev, stdout);
		net_dev_free(d->dev);
	}
	if (d->be)
		netbe_free(d->be);
	vu_state_close(d->state);
	if (d->sig_fd >= 0)
		close(d->sig_fd);
}

/* A socket passed by a service manager (socket activation) replaces
 * listening on --socket; then every other inherited fd is closed (the
 * --tap-fd ones are kept). 0, or -1 after one line on stderr. */
static int activation(struct options *o)
{
	int keep[NET_DEV_MAX_QUEUE_PAIRS + 1];

	if (service_listen_fd(&o->listen_fd))
		return -1;
	if (o->listen_fd >= 0 && o->client) {
		vqnet_log(VQNET_LOG_ERROR, NULL,
			  "socket activation: a socket passed with --client");
		return -1;
	}
	memcpy(keep, o->tap_fds, o->n_tap_fds * sizeof(int));
	keep[o->n_tap_fds] = o->listen_fd;
	sandbox_close_inherited_fds(keep, o->n_tap_fds + 1);
	return 0;
}

/* The daemon's life: parse, set up, confine, serve, stop. */
int main(int argc, char **argv)
{
	struct options o;
	struct daemon d = {.sig_fd = -1};
	int rc, status = EXIT_RUNTIME;

	vqnet_log_set_prefix("vqnetd");
	parse_args(argc, argv, &o);
	if (activation(&o))
		return EXIT_RUNTIME;
	if (o.log_target && !strncmp(o.log_target, "syslog", 6) &&
	    syslog_sink_open(o.log_target[6] ? o.log_target + 7 : NULL))
		return EXIT_RUNTIME;
	vqnet_log_set_timestamps(!service_stderr_is_journal());

	/* Signals first: blocked before the backend or device start a thread. */
	if (open_signals(&d))
		goto out;
	rc = open_backend(&o, &d);
	if (rc) {
		if (rc == -EINVAL)
			status = EXIT_USAGE;
		goto out;
	}
	/* The control socket before the vhost-user one: "listening on" says
	 * both are there. */
	if (open_capture_dir(&o) || open_device(&o, &d) || open_control(&o, &d) ||
	    open_socket(&o, &d))
		goto out;
	if (o.capture.file && capture_open(&o.capture, &d.cap))
		goto out;

	/* Confine: set-up is done (backend, device, socket) and no frontend
	 * message is served yet; then the backend's threads start. */
	if (sandbox_confine(&o.sandbox) || start(&d))
		goto out;
	sandbox_enter_control(&o.sandbox);
	if (d.cap && capture_start(d.cap, d.dev, &o.sandbox))
		goto out;
	service_ready("serving the virtio-net device");
	vqnet_log(VQNET_LOG_INFO, NULL, "ready");

	status = serve(&d, o.seconds) ? EXIT_RUNTIME : 0;
	service_stopping();
out:
	stop(&d);
	if (o.sandbox.capture_dir_fd >= 0)
		close(o.sandbox.capture_dir_fd);
	return status;
}
