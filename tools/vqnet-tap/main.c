/* SPDX-License-Identifier: MIT */
/*
 * vqnet-tap: a TAP interface in front of a virtio-net device served over
 * vhost-user, driven through the driver library (include/vqnet/vnet_drv.h).
 * Usage in options.c and docs/man/vqnet-tap.1; design in docs/vqnet-tap.md.
 *
 * The main thread is the library's control thread: it makes the TAP (once,
 * before any other thread: it may enter a namespace), connects, sets the
 * TAP's offloads, MTU, MAC and carrier from what the device negotiated,
 * starts one forwarding thread per queue pair (forward.c), then sleeps in
 * poll() on a signalfd, the vhost-user socket (hung up: the backend has
 * gone), the library's event fd (config changes: the link) and an eventfd
 * a forwarding thread signals when its TAP queue fails (the interface was
 * deleted: exit 1). When the backend goes, the threads are stopped and the
 * device closed; with --client it connects again and goes on with the same
 * TAP, otherwise it exits 1. SIGTERM/SIGINT stop it (exit 0); SIGUSR1 prints the counters.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <vqnet/log.h>

#include "base/counter.h"
#include "vqnet_tap.h"

#define ETH_VLAN_HDR	   18u /* Ethernet header and one 802.1Q tag */
#define RING_SIZE	   256u
#define POOL_SIZE	   (8u * RING_SIZE) /* rx ring + tx ring + slots + bursts, with room */
#define RETRY_MS	   1000u	    /* --client: one connection attempt */
#define LINK_POLL_MS	   1000		    /* link checks without an event channel */
#define CONNECT_TIMEOUT_MS 5000u

enum { RUN_STOPPED = 1, RUN_LOST = 2, RUN_TAP_GONE = 3 };

struct vt {
	struct vt_opts o;
	struct vt_tap tap;
	struct vnet_drv *drv;
	struct vt_worker workers[VNET_DRV_MAX_QUEUE_PAIRS];
	struct vt_pair_stats *stats; /* [o.queues] */
	atomic_bool stop;
	int stop_fd, sig_fd;
	int gone_fd; /* a worker's TAP queue failed */
	bool mac_set, carrier;
	unsigned connections;
	const char *lost; /* why the backend was lost */
};

/* ---- counters ---- */

static void print_dir(const char *what, const char *dir, const struct vt_dir_stats *s)
{
	printf(VT_PROG ": %s %s: packets=%" PRIu64 " bytes=%" PRIu64 " drops=%" PRIu64
		       " gso=%" PRIu64 " max_frame=%" PRIu64 "\n",
	       what, dir, counter_get(&s->packets), counter_get(&s->bytes), counter_get(&s->drops),
	       counter_get(&s->gso), counter_get(&s->max_frame));
}

static void add_dir(struct vt_dir_stats *t, const struct vt_dir_stats *s)
{
	t->packets += counter_get(&s->packets);
	t->bytes += counter_get(&s->bytes);
	t->drops += counter_get(&s->drops);
	t->gso += counter_get(&s->gso);
	if (counter_get(&s->max_frame) > t->max_frame)
		t->max_frame = counter_get(&s->max_frame);
}

static void print_counters(const struct vt *vt)
{
	struct vt_dir_stats rx = {0}, tx = {0};
	char name[32];

	for (unsigned q = 0; q < vt->o.queues; q++) {
		snprintf(name, sizeof(name), "queue %u", q);
		print_dir(name, "rx", &vt->stats[q].rx);
		print_dir(name, "tx", &vt->stats[q].tx);
		add_dir(&rx, &vt->stats[q].rx);
		add_dir(&tx, &vt->stats[q].tx);
	}
	print_dir("total", "rx", &rx);
	print_dir("total", "tx", &tx);
	printf(VT_PROG ": connections=%u\n", vt->connections);
	fflush(stdout);
}

/* ---- signals ---- */

/* Signals go to the signalfd only: blocked in every thread (the workers
 * inherit the mask). */
static int setup_signals(struct vt *vt)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		return -EINVAL;
	vt->sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return vt->sig_fd < 0 ? -errno : 0;
}

/* Take every pending signal. Return: RUN_STOPPED for a stop, else 0. */
static int handle_signals(struct vt *vt)
{
	struct signalfd_siginfo si;
	int rc = 0;

	while (read(vt->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGUSR1)
			print_counters(vt);
		else
			rc = RUN_STOPPED;
	}
	return rc;
}

/* Sleep up to @ms for a signal. Return: RUN_STOPPED or 0. */
static int wait_signal(struct vt *vt, int ms)
{
	struct pollfd p = {.fd = vt->sig_fd, .events = POLLIN};

	if (poll(&p, 1, ms) > 0)
		return handle_signals(vt);
	return 0;
}

/* ---- connecting ---- */

/* Errors a backend that is (re)starting causes: worth another try. */
static bool retryable(int rc)
{
	return rc != -EINVAL && rc != -EOPNOTSUPP && rc != -ENOMEM && rc != -ENAMETOOLONG;
}

/* Open the device; with --client, until it works or a signal stops us.
 * Return: 0, RUN_STOPPED, or -errno. */
static int connect_device(struct vt *vt)
{
	const struct vt_opts *o = &vt->o;
	struct vnet_drv_config cfg = {
		.socket_path = o->socket,
		.connect_timeout_ms = o->client ? RETRY_MS : CONNECT_TIMEOUT_MS,
		.queue_pairs = o->queues,
		.ring_format = o->ring,
		.ring_size = RING_SIZE,
		.features = vt_wanted_features(o),
		.pool_size = POOL_SIZE,
		.buf_data_room = o->buf_size,
		.rx_frame_max = (o->mtu ? o->mtu : VQNET_MTU_DEFAULT) + ETH_VLAN_HDR,
	};
	bool said = false;
	int rc;

	for (;;) {
		rc = vnet_drv_open(&cfg, &vt->drv);
		if (rc == 0 || !o->client || !retryable(rc))
			return rc;
		if (!said)
			fprintf(stderr, VT_PROG ": waiting for the backend at %s (%s)\n", o->socket,
				strerror(-rc));
		said = true;
		/* connect() itself retried for RETRY_MS; another refusal
		 * (a backend half up) is retried after a pause */
		rc = wait_signal(vt, rc == -ENOENT || rc == -ECONNREFUSED ? 0 : 100);
		if (rc)
			return rc;
	}
}

/* ---- the TAP follows the device ---- */

/* The TAP's MTU: the device's (with --mtu, the smaller), else --mtu, else
 * leave it (0); never more than unmergeable receive chains hold. */
static unsigned pick_mtu(const struct vt *vt)
{
	unsigned dev = vnet_drv_mtu(vt->drv), mtu = vt->o.mtu;

	if (dev)
		mtu = mtu && mtu < dev ? mtu : dev;
	if (!vnet_drv_has_feature(vt->drv, VNET_DRV_F_MRG_RXBUF) &&
	    !vnet_drv_has_feature(vt->drv, VNET_DRV_F_GUEST_TSO4) &&
	    !vnet_drv_has_feature(vt->drv, VNET_DRV_F_GUEST_TSO6)) {
		unsigned cap = (vt->o.mtu ? vt->o.mtu : VQNET_MTU_DEFAULT);

		if (mtu > cap)
			mtu = cap;
	}
	return mtu;
}

static void warn_rc(const struct vt *vt, const char *what, int rc)
{
	if (rc < 0)
		fprintf(stderr, VT_PROG ": %s: %s: %s\n", vt->tap.ifname, what, strerror(-rc));
}

/* The carrier follows the link. Return: 0, or -errno when the device
 * cannot be asked (the backend is gone). */
static int follow_link(struct vt *vt)
{
	int up = vnet_drv_link_up(vt->drv);

	if (up < 0)
		return up;
	if ((up != 0) != vt->carrier) {
		vt->carrier = up != 0;
		warn_rc(vt, "TUNSETCARRIER", vt_tap_set_carrier(&vt->tap, vt->carrier));
		fprintf(stderr, VT_PROG ": %s: link %s\n", vt->tap.ifname, up ? "up" : "down");
	}
	return 0;
}

/* The MAC: --mac (told to the device too, when it takes the command),
 * else the device's own, set once: a reconnection keeps the TAP's. */
static void set_mac(struct vt *vt)
{
	uint8_t mac[6];

	if (vt->o.have_mac && vnet_drv_has_feature(vt->drv, VNET_DRV_F_CTRL_MAC_ADDR))
		warn_rc(vt, "MAC_ADDR_SET to the device", vnet_drv_set_mac(vt->drv, vt->o.mac));
	if (vt->mac_set)
		return;
	if (vt->o.have_mac)
		memcpy(mac, vt->o.mac, 6);
	else if (vnet_drv_has_feature(vt->drv, VNET_DRV_F_MAC))
		vnet_drv_mac(vt->drv, mac);
	else
		return; /* the kernel's random one */
	warn_rc(vt, "SIOCSIFHWADDR", vt_tap_set_mac(&vt->tap, mac));
	vt->mac_set = true;
}

/* Offloads, MAC, MTU and carrier from what the device negotiated. */
static int configure_tap(struct vt *vt)
{
	unsigned mtu = pick_mtu(vt);
	char tx[64], rx[64], mtus[16] = "unchanged";
	int rc;

	rc = vt_tap_set_offloads(&vt->tap, vt_tun_offloads(vt->drv));
	if (rc < 0)
		return rc;
	set_mac(vt);
	if (mtu)
		warn_rc(vt, "SIOCSIFMTU", vt_tap_set_mtu(&vt->tap, mtu));
	if (mtu)
		snprintf(mtus, sizeof(mtus), "%u", mtu);
	fprintf(stderr,
		VT_PROG ": %s <-> %s: %u queue pair(s), %s ring, mtu %s, offloads TAP->device: "
			"%s, device->TAP: %s\n",
		vt->tap.ifname, vt->o.socket, vnet_drv_queue_pairs(vt->drv),
		vnet_drv_ring_format(vt->drv) == VNET_DRV_RING_PACKED ? "packed" : "split", mtus,
		vt_offload_names(vt->tap.tun_offloads, tx, sizeof(tx)),
		vt_offload_names(vt_guest_offloads(vt->drv), rx, sizeof(rx)));
	vt->carrier = false;
	return follow_link(vt);
}

/* ---- forwarding threads ---- */

static void stop_workers(struct vt *vt)
{
	uint64_t one = 1;

	atomic_store(&vt->stop, true);
	if (write(vt->stop_fd, &one, sizeof(one)) < 0)
		fprintf(stderr, VT_PROG ": stop eventfd: %s\n", strerror(errno));
	for (unsigned q = 0; q < vt->o.queues; q++)
		vt_worker_join(&vt->workers[q]);
}

static int start_workers(struct vt *vt)
{
	uint64_t n;
	int rc;

	atomic_store(&vt->stop, false);
	if (read(vt->stop_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return -errno;
	for (unsigned q = 0; q < vt->o.queues; q++) {
		vt->workers[q] = (struct vt_worker){
			.drv = vt->drv,
			.qp = q,
			.tap_fd = vt->tap.fds[q],
			.stop_fd = vt->stop_fd,
			.gone_fd = vt->gone_fd,
			.stop = &vt->stop,
			.tun_offloads = vt->tap.tun_offloads,
			.stats = &vt->stats[q],
		};
		rc = vt_worker_start(&vt->workers[q]);
		if (rc < 0) {
			stop_workers(vt);
			return rc;
		}
	}
	return 0;
}

/* ---- one connection ---- */

/* Sleep on signals, the TAP, the connection and the device's events until
 * a stop (RUN_STOPPED), the TAP's end (RUN_TAP_GONE) or the backend's
 * (RUN_LOST, reason in vt->lost). */
static int watch(struct vt *vt)
{
	for (;;) {
		int efd = vnet_drv_event_fd(vt->drv), rc;
		struct pollfd p[4] = {
			{.fd = vt->sig_fd, .events = POLLIN},
			{.fd = vt->gone_fd, .events = POLLIN},
			{.fd = vnet_drv_conn_fd(vt->drv), .events = POLLIN},
			{.fd = efd, .events = POLLIN},
		};

		rc = poll(p, efd >= 0 ? 4 : 3, efd >= 0 ? -1 : LINK_POLL_MS);
		if (rc < 0 && errno != EINTR)
			return -errno;
		if ((p[0].revents & POLLIN) && handle_signals(vt))
			return RUN_STOPPED;
		if (p[1].revents)
			return RUN_TAP_GONE;
		if (p[2].revents) {
			vt->lost = "the connection was closed";
			return RUN_LOST;
		}
		if (efd >= 0 && !p[3].revents)
			continue;
		if ((efd >= 0 && vnet_drv_poll_events(vt->drv) < 0) || follow_link(vt) < 0) {
			vt->lost = "the device does not answer";
			return RUN_LOST;
		}
	}
}

/* Configure, forward and watch one connection, then close it. Return:
 * RUN_STOPPED, RUN_LOST or -errno. */
static int run_connection(struct vt *vt)
{
	int rc;

	vt->connections++;
	rc = configure_tap(vt);
	if (rc == 0)
		rc = start_workers(vt);
	if (rc == 0) {
		rc = watch(vt);
		stop_workers(vt);
	} else if (retryable(rc)) {
		vt->lost = strerror(-rc);
		rc = RUN_LOST;
	}
	vnet_drv_close(vt->drv);
	vt->drv = NULL;
	if (vt->carrier && rc != RUN_TAP_GONE)
		warn_rc(vt, "TUNSETCARRIER", vt_tap_set_carrier(&vt->tap, false));
	vt->carrier = false;
	return rc;
}

/* Connect, run, and with --client again; the exit status. */
static int run(struct vt *vt)
{
	for (;;) {
		int rc = connect_device(vt);

		if (rc == RUN_STOPPED)
			return 0;
		if (rc < 0) {
			fprintf(stderr, VT_PROG ": cannot open the device at %s: %s\n",
				vt->o.socket, strerror(-rc));
			return 1;
		}
		rc = run_connection(vt);
		if (rc == RUN_STOPPED)
			return 0;
		if (rc == RUN_TAP_GONE) {
			fprintf(stderr, VT_PROG ": %s: the interface is gone\n", vt->tap.ifname);
			return 1;
		}
		if (rc < 0) {
			fprintf(stderr, VT_PROG ": %s: %s\n", vt->o.socket, strerror(-rc));
			return 1;
		}
		fprintf(stderr, VT_PROG ": lost the backend at %s: %s%s\n", vt->o.socket, vt->lost,
			vt->o.client ? "; reconnecting" : "");
		if (!vt->o.client)
			return 1;
	}
}

/* The TAP, set up and without carrier until a device says its link is up. */
static int setup_tap(struct vt *vt)
{
	char err[160];
	int rc;

	rc = vt_tap_open(&vt->tap, vt->o.ifname, vt->o.netns, vt->o.queues, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, VT_PROG ": %s\n", err);
		return rc;
	}
	if (vt->o.have_mac) {
		rc = vt_tap_set_mac(&vt->tap, vt->o.mac);
		vt->mac_set = rc == 0;
		warn_rc(vt, "SIOCSIFHWADDR", rc);
	}
	rc = vt_tap_set_carrier(&vt->tap, false);
	if (rc == 0)
		rc = vt_tap_set_up(&vt->tap);
	if (rc < 0)
		fprintf(stderr, VT_PROG ": %s: %s\n", vt->tap.ifname, strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	static struct vt vt;
	int status = 1;

	vt_parse_options(argc, argv, &vt.o);
	vqnet_log_set_prefix(VT_PROG);
	vt.sig_fd = vt.stop_fd = vt.gone_fd = -1;
	vt.stats = aligned_alloc(64, vt.o.queues * sizeof(*vt.stats));
	if (!vt.stats)
		goto out;
	memset(vt.stats, 0, vt.o.queues * sizeof(*vt.stats));
	if (setup_signals(&vt) < 0)
		goto out;
	vt.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vt.gone_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vt.stop_fd < 0 || vt.gone_fd < 0 || setup_tap(&vt) < 0)
		goto out_tap;
	status = run(&vt);
	print_counters(&vt);
out_tap:
	vt_tap_close(&vt.tap);
out:
	if (status && !vt.stats)
		fprintf(stderr, VT_PROG ": out of memory\n");
	if (vt.stop_fd >= 0)
		close(vt.stop_fd);
	if (vt.gone_fd >= 0)
		close(vt.gone_fd);
	if (vt.sig_fd >= 0)
		close(vt.sig_fd);
	free(vt.stats);
	return status;
}
