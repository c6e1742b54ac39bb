/* SPDX-License-Identifier: MIT */
/*
 * vqnet-tap: the TAP interface (docs/vqnet-tap.md "The TAP").
 *
 * One /dev/net/tun fd per queue pair, all attached to IFNAME with
 * IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE (IFF_MULTI_QUEUE
 * even for one pair, so an existing interface made either way by
 * `ip tuntap add ... multi_queue vnet_hdr` is joined). Every frame crosses
 * an fd behind a 12-byte little-endian struct virtio_net_hdr_v1: the
 * driver always negotiates VERSION_1, whose header always has num_buffers
 * (VIRTIO 1.2 §5.1.6), so the header the device gave us can be described
 * to the kernel as is; the kernel ignores num_buffers.
 *
 * With --netns the interface is made inside that namespace: the calling
 * thread enters it (setns), opens the queues (a tun file belongs to the
 * namespace it was opened in, and so does the interface it creates) and
 * one AF_INET socket for the SIOCSIF* calls, then goes back. Only the
 * main thread does this, before any other thread exists; the vhost-user
 * connection is made afterwards, from the original namespace. The
 * interface is not persistent: it goes when the last fd closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if_arp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vqnet_tap.h"

#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)

static int set_err(char *err, size_t len, int rc, const char *what, const char *name)
{
	snprintf(err, len, "%s %s: %s", what, name, strerror(-rc));
	return rc;
}

/* One queue of t->ifname; the kernel's name (a "%d" pattern resolved)
 * lands in t->ifname. Return the fd or -errno. */
static int open_queue(struct vt_tap *t)
{
	int hdr_len = (int)sizeof(struct virtio_net_hdr_v1), le = 1, fd, e;
	struct ifreq ifr;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, t->ifname, sizeof(ifr.ifr_name));
	ifr.ifr_flags = TAP_FLAGS;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		e = errno;
		close(fd);
		return -e;
	}
	/* Little-endian already on little-endian hosts; kernels without
	 * TUNSETVNETLE are little-endian only. */
	(void)ioctl(fd, TUNSETVNETLE, &le);
	memcpy(t->ifname, ifr.ifr_name, sizeof(t->ifname));
	t->ifname[IFNAMSIZ - 1] = '\0';
	return fd;
}

/* The queues and the control socket, in the current namespace. */
static int open_here(struct vt_tap *t, unsigned queues, char *err, size_t errlen)
{
	for (unsigned q = 0; q < queues; q++) {
		int fd = open_queue(t);

		if (fd < 0)
			return set_err(err, errlen, fd,
				       fd == -EINVAL || fd == -EBUSY
					       ? "TUNSETIFF (an existing interface must be a "
						 "multi_queue vnet_hdr tap)"
					       : "TUNSETIFF",
				       t->ifname);
		t->fds[t->nfds++] = fd;
	}
	t->ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (t->ctl < 0)
		return set_err(err, errlen, -errno, "socket for", t->ifname);
	return 0;
}

/* The namespace @netns names: a path, or a name `ip netns add` made. */
static int open_netns(const char *netns)
{
	char path[256];

	if (strchr(netns, '/'))
		snprintf(path, sizeof(path), "%s", netns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", netns);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/* open_here() inside namespace @netns, then back. */
static int open_in_netns(struct vt_tap *t, const char *netns, unsigned queues, char *err,
			 size_t errlen)
{
	int self, target, rc;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return set_err(err, errlen, -errno, "open", "/proc/self/ns/net");
	target = open_netns(netns);
	if (target < 0) {
		rc = set_err(err, errlen, -errno, "network namespace", netns);
		goto out_self;
	}
	if (setns(target, CLONE_NEWNET) < 0) {
		rc = set_err(err, errlen, -errno, "setns into", netns);
		goto out_target;
	}
	rc = open_here(t, queues, err, errlen);
	if (setns(self, CLONE_NEWNET) < 0) {
		/* Our vhost-user socket would be made in the wrong place. */
		if (rc == 0)
			rc = set_err(err, errlen, -errno, "setns back from", netns);
	}
out_target:
	close(target);
out_self:
	close(self);
	return rc;
}

int vt_tap_open(struct vt_tap *t, const char *ifname, const char *netns, unsigned queues, char *err,
		size_t errlen)
{
	int rc;

	memset(t, 0, sizeof(*t));
	t->ctl = -1;
	for (unsigned q = 0; q < VNET_DRV_MAX_QUEUE_PAIRS; q++)
		t->fds[q] = -1;
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ || queues > VNET_DRV_MAX_QUEUE_PAIRS) {
		snprintf(err, errlen, "bad interface name '%s' or queue count", ifname);
		return -EINVAL;
	}
	snprintf(t->ifname, sizeof(t->ifname), "%s", ifname);
	rc = netns ? open_in_netns(t, netns, queues, err, errlen)
		   : open_here(t, queues, err, errlen);
	if (rc < 0)
		vt_tap_close(t);
	return rc;
}

void vt_tap_close(struct vt_tap *t)
{
	for (unsigned q = 0; q < t->nfds; q++)
		close(t->fds[q]);
	t->nfds = 0;
	if (t->ctl >= 0)
		close(t->ctl);
	t->ctl = -1;
}

int vt_tap_set_offloads(struct vt_tap *t, unsigned tun_flags)
{
	/* What older kernels may refuse, dropped one at a time. */
	static const unsigned drop[] = {0, TUN_F_UFO, TUN_F_TSO_ECN, ~(unsigned)TUN_F_CSUM};
	unsigned f = tun_flags;

	for (unsigned i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		f &= ~drop[i];
		if (ioctl(t->fds[0], TUNSETOFFLOAD, f) == 0) {
			t->tun_offloads = f;
			return 0;
		}
	}
	if (ioctl(t->fds[0], TUNSETOFFLOAD, 0) < 0)
		return -errno;
	t->tun_offloads = 0;
	return 0;
}

static void ifreq_for(const struct vt_tap *t, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, t->ifname, sizeof(ifr->ifr_name));
}

int vt_tap_set_mtu(struct vt_tap *t, unsigned mtu)
{
	struct ifreq ifr;

	ifreq_for(t, &ifr);
	ifr.ifr_mtu = (int)mtu;
	return ioctl(t->ctl, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
}

int vt_tap_set_mac(struct vt_tap *t, const uint8_t mac[6])
{
	struct ifreq ifr;

	ifreq_for(t, &ifr);
	ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
	memcpy(ifr.ifr_hwaddr.sa_data, mac, 6);
	return ioctl(t->ctl, SIOCSIFHWADDR, &ifr) < 0 ? -errno : 0;
}

int vt_tap_set_up(struct vt_tap *t)
{
	struct ifreq ifr;

	ifreq_for(t, &ifr);
	if (ioctl(t->ctl, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	return ioctl(t->ctl, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

int vt_tap_set_carrier(struct vt_tap *t, bool on)
{
	int v = on;

	return ioctl(t->fds[0], TUNSETCARRIER, &v) < 0 ? -errno : 0;
}
