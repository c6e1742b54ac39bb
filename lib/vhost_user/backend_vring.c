/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: the ring state machine and the ring requests
 * (SET_VRING_NUM/ADDR/BASE/KICK/CALL/ERR/ENABLE, GET_VRING_BASE).
 * Theory of operation: backend.c.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "base/efd.h"
#include "backend_internal.h"

/* ------------------------------------------------------------------------
 * Rings
 * ------------------------------------------------------------------------ */

/*
 * SET/GET_VRING_BASE packing. Split: the avail index in bits 0-15. Packed
 * (QEMU's packing): bits 0-14 last avail position, bit 15 avail wrap
 * counter, bits 16-30 used position, bit 31 used wrap counter.
 */
static uint32_t pack_state(enum vq_format f, const struct vq_state *s)
{
	if (f == VQ_FORMAT_SPLIT)
		return s->avail_idx;
	return (uint32_t)(s->avail_idx & 0x7fff) | (uint32_t)s->avail_wrap << 15 |
	       (uint32_t)(s->used_idx & 0x7fff) << 16 | (uint32_t)s->used_wrap << 31;
}

/*
 * QEMU sends both halves (a fresh ring: 0x80008000). DPDK's virtio-user
 * sends the avail half only (a fresh ring: 0x8000) and DPDK's own vhost
 * library always takes the used position and wrap from the avail ones. An
 * all-zero used half (position 0, wrap 0) is therefore read as "not given":
 * used = avail. Taking it literally would start a fresh ring with the used
 * wrap counter at 0 (§2.8.1 says 1), and the driver would never see a used
 * descriptor (found with DPDK 22.11, tests/interop).
 */
static void unpack_packed_state(uint32_t base, struct vq_state *s)
{
	*s = (struct vq_state){.avail_idx = base & 0x7fff,
			       .avail_wrap = (base >> 15) & 1,
			       .used_idx = (base >> 16) & 0x7fff,
			       .used_wrap = (base >> 31) & 1};
	if ((base >> 16) == 0) {
		s->used_idx = s->avail_idx;
		s->used_wrap = s->avail_wrap;
	}
}

static int vq_errno(int vq_err)
{
	switch (-vq_err) {
	case VQ_ERR_RING_OUT_OF_MEMORY:
		return -EFAULT;
	case VQ_ERR_NO_MEMORY:
		return -ENOMEM;
	default:
		return -EINVAL;
	}
}

/*
 * resolve_ring() - the vq configuration of ring @s in memory @mem: size
 * allowed for the negotiated format, each ring part (full vq_layout size)
 * inside one region, addresses converted to guest-physical.
 * Return: 0, or -EINVAL / -EFAULT with c->why set.
 */
static int resolve_ring(const struct vu_backend *b, const struct vring_slot *s,
			const struct gmem_table *mem, struct vq_config *out, const char **why)
{
	struct vq_layout l;
	enum vq_format f = ring_format(b);
	if (vq_layout(f, s->num, &l)) {
		*why = f == VQ_FORMAT_SPLIT ? "split ring size not a power of two"
					    : "ring size not allowed";
		return -EINVAL;
	}
	/* The device says which way each queue goes (virtio-net: the device
	 * only reads a transmitq, only writes a receiveq, §2.7.5.1), so the
	 * ring code drops chains with descriptors of the wrong direction. */
	unsigned index = (unsigned)(s - b->vrings);
	*out = (struct vq_config){.format = f,
				  .size = s->num,
				  .features = virtio_features(b),
				  .dir = b->ops->queue_dir ? b->ops->queue_dir(b->opaque, index)
							   : VQ_DIR_BOTH};
	if (gmem_uva_to_gpa(mem, s->desc_uva, l.desc_bytes, &out->desc_gpa) ||
	    gmem_uva_to_gpa(mem, s->avail_uva, l.driver_bytes, &out->driver_gpa) ||
	    gmem_uva_to_gpa(mem, s->used_uva, l.device_bytes, &out->device_gpa)) {
		*why = "ring address outside guest memory";
		return -EFAULT;
	}
	if (out->desc_gpa % l.desc_align || out->driver_gpa % l.driver_align ||
	    out->device_gpa % l.device_align) {
		*why = "ring address misaligned";
		return -EINVAL;
	}
	return 0;
}

/* The start position of a ring from its stored base. Split rings resume
 * at the used index found in the ring (vhost-user.rst: the base is the
 * next avail index; completions the driver saw are in used->idx). */
static int start_state(const struct vu_backend *b, const struct vring_slot *s,
		       const struct vq_config *vc, struct vq_state *st, const char **why)
{
	if (vc->format == VQ_FORMAT_PACKED) {
		unpack_packed_state(s->base, st);
		if (st->avail_idx >= s->num || st->used_idx >= s->num) {
			*why = "packed ring base beyond the ring size";
			return -EINVAL;
		}
		return 0;
	}
	if (s->base > UINT16_MAX) {
		*why = "split ring base beyond 16 bits";
		return -EINVAL;
	}
	uint32_t hint = 0;
	const uint16_t *used_idx = gmem_ptr(b->mem, vc->device_gpa + 2, 2, &hint);
	if (!used_idx) {
		*why = "used ring outside guest memory";
		return -EFAULT;
	}
	*st = (struct vq_state){.avail_idx = (uint16_t)s->base,
				.used_idx = le16toh(__atomic_load_n(used_idx, __ATOMIC_ACQUIRE))};
	if ((uint16_t)(st->avail_idx - st->used_idx) > s->num) {
		*why = "vring base more than the ring size ahead of used->idx";
		return -EINVAL;
	}
	return 0;
}

static bool ring_enabled(const struct vu_backend *b, const struct vring_slot *s)
{
	/* Without VHOST_USER_F_PROTOCOL_FEATURES rings start enabled; with
	 * it, disabled until SET_VRING_ENABLE 1. */
	if (s->enable_set)
		return s->enabled;
	return !vq_has_feature(b->features, VHOST_USER_F_PROTOCOL_FEATURES);
}

static int device_queue_start(struct vu_backend *b, unsigned i, const char **why)
{
	struct vring_slot *s = &b->vrings[i];
	if (!b->ops->queue_start)
		return 0;
	struct vu_vring vr = {.index = i,
			      .vq = s->vq,
			      .kick_fd = s->kick_fd,
			      .call_fd = s->call_fd,
			      .enabled = ring_enabled(b, s)};
	int rc = b->ops->queue_start(b->opaque, &vr);
	if (rc) {
		*why = "the device refused to start the ring";
		return rc < 0 ? rc : -EINVAL;
	}
	return 0;
}

static bool ring_ready(const struct vu_backend *b, const struct vring_slot *s)
{
	return s->kick_armed && b->mem && s->addr_set && s->num;
}

/*
 * vring_create() - the vq of ring @i, if it is ready (kick, memory,
 * addresses and size known) and not started. Return: 0 (created, or not
 * ready yet), or -errno with *why set.
 */
static int vring_create(struct vu_backend *b, unsigned i, const char **why)
{
	struct vring_slot *s = &b->vrings[i];
	if (s->vq || !ring_ready(b, s))
		return 0;
	struct vq_config vc;
	struct vq_state st;
	int rc = resolve_ring(b, s, b->mem, &vc, why);
	if (!rc)
		rc = start_state(b, s, &vc, &st, why);
	if (rc)
		return rc;
	rc = vq_new(&vc, b->mem, &st, &s->vq);
	if (rc) {
		s->vq = NULL;
		*why = vq_strerror(rc);
		return vq_errno(rc);
	}
	s->vq_cfg = vc;
	rc = vu_be_vring_set_inflight(b, i, why);
	if (rc) {
		vq_free(s->vq);
		s->vq = NULL;
	}
	return rc;
}

/*
 * ring_logged() - is the used ring of @s logged now? vhost-user.rst
 * "Migration": with VHOST_F_LOG_ALL negotiated, a log set by SET_LOG_BASE
 * and VHOST_VRING_F_LOG in the ring's SET_VRING_ADDR flags.
 */
static bool ring_logged(const struct vu_backend *b, const struct vring_slot *s)
{
	return b->log_bitmap && vq_has_feature(b->features, VHOST_F_LOG_ALL) &&
	       (s->addr_flags & (1u << VHOST_VRING_F_LOG));
}

/* Give the (stopped or not yet handed over) vq of @s its dirty log, or
 * none: used-ring writes are marked at log_guest_addr + their offset. */
static void vring_apply_log(const struct vu_backend *b, struct vring_slot *s)
{
	if (ring_logged(b, s))
		vq_set_dirty_log(s->vq, b->log_bitmap, b->log_bytes, s->log_gpa);
	else
		vq_set_dirty_log(s->vq, NULL, 0, 0);
}

/* Hand ring @i (created) to the device; on refusal the ring is stopped. */
static int vring_hand_over(struct vu_backend *b, unsigned i, const char **why)
{
	struct vring_slot *s = &b->vrings[i];
	vring_apply_log(b, s); /* the device is not pushing yet */
	int rc = device_queue_start(b, i, why);
	if (rc) {
		vq_free(s->vq);
		s->vq = NULL;
		s->kick_armed = false;
	}
	return rc;
}

/* Start ring @i if it is ready. Return: 0 (started or deferred) or -errno. */
static int vring_start(struct vu_backend *b, unsigned i, const char **why)
{
	struct vring_slot *s = &b->vrings[i];
	if (s->vq || !ring_ready(b, s))
		return 0;
	int rc = vring_create(b, i, why);
	return rc ? rc : vring_hand_over(b, i, why);
}

/* Stop ring @i if started: the device lets go, the position is saved as
 * the ring's base, and a new kick is needed to start it again. */
static void vring_stop(struct vu_backend *b, unsigned i)
{
	struct vring_slot *s = &b->vrings[i];
	s->kick_armed = false;
	if (!s->vq)
		return;
	if (!s->paused && b->ops->queue_stop)
		b->ops->queue_stop(b->opaque, i);
	struct vq_state st;
	vq_get_state(s->vq, &st);
	s->base = pack_state(vq_get_format(s->vq), &st);
	if (vq_is_broken(s->vq))
		vu_be_state_ring_forget(b, i);
	vq_free(s->vq);
	s->vq = NULL;
	s->paused = false;
}

void vu_be_vring_reset_slot(struct vring_slot *s)
{
	close_fd(&s->kick_fd);
	close_fd(&s->call_fd);
	pthread_mutex_lock(&vu_be_err_fd_lock);
	close_fd(&s->err_fd);
	pthread_mutex_unlock(&vu_be_err_fd_lock);
	*s = (struct vring_slot){.kick_fd = -1, .call_fd = -1, .err_fd = -1};
}

void vu_be_stop_all_rings(struct vu_backend *b)
{
	for (unsigned i = 0; i < b->cfg.num_queues; i++)
		vring_stop(b, i);
}

bool vu_be_any_ring_started(const struct vu_backend *b)
{
	for (unsigned i = 0; i < b->cfg.num_queues; i++)
		if (b->vrings[i].vq)
			return true;
	return false;
}

/* Stop every started ring before a change they must not see (memory
 * table, log); vu_be_resume_rings() restarts them. */
void vu_be_pause_rings(struct vu_backend *b)
{
	for (unsigned i = 0; i < b->cfg.num_queues; i++) {
		struct vring_slot *s = &b->vrings[i];
		if (s->vq && !s->paused) {
			if (b->ops->queue_stop)
				b->ops->queue_stop(b->opaque, i);
			s->paused = true;
		}
	}
}

/* Move a paused ring to the current table: same guest-physical addresses
 * keep the vq (and its in-flight accounting); otherwise it is recreated at
 * its position. A ring no longer inside memory stays stopped. */
static int remap_ring(struct vu_backend *b, unsigned i, const char **why)
{
	struct vring_slot *s = &b->vrings[i];
	struct vq_config vc;
	const char *ignored;
	if (!b->mem || resolve_ring(b, s, b->mem, &vc, &ignored)) {
		vring_stop(b, i); /* HOSTILE F14: never touch a removed region */
		return 0;
	}
	if (vc.desc_gpa == s->vq_cfg.desc_gpa && vc.driver_gpa == s->vq_cfg.driver_gpa &&
	    vc.device_gpa == s->vq_cfg.device_gpa) {
		if (vq_set_mem(s->vq, b->mem)) {
			vring_stop(b, i);
			return 0;
		}
	} else {
		struct vq_state st;
		struct vq *q;
		vq_get_state(s->vq, &st);
		if (vq_new(&vc, b->mem, &st, &q)) {
			vring_stop(b, i);
			return 0;
		}
		vq_free(s->vq);
		s->vq = q;
		s->vq_cfg = vc;
		if (vu_be_vring_set_inflight(b, i, &ignored)) {
			vring_stop(b, i);
			return 0;
		}
	}
	s->paused = false;
	return vring_hand_over(b, i, why);
}

/* Restart the paused rings and start the ones that became ready. A
 * deferred ring that does not fit the memory stays stopped; only the
 * device refusing a ring is fatal. */
int vu_be_resume_rings(struct vu_backend *b, const char **why)
{
	int ret = 0;
	for (unsigned i = 0; i < b->cfg.num_queues; i++) {
		struct vring_slot *s = &b->vrings[i];
		const char *ignored;
		int rc = 0;
		if (s->paused && ret)
			vring_stop(b, i);
		else if (s->paused)
			rc = remap_ring(b, i, why);
		else if (!ret && !s->vq && ring_ready(b, s) && !vring_create(b, i, &ignored))
			rc = vring_hand_over(b, i, why);
		if (rc && !ret)
			ret = rc;
	}
	return ret;
}

/* The log settings changed (LOG_ALL, SET_LOG_BASE, a ring's log flag or
 * address): the started rings are paused and restarted, which hands each
 * its log (vring_hand_over()) while the device does not push. */
int vu_be_relog_rings(struct vu_backend *b, const char **why)
{
	if (!vu_be_any_ring_started(b))
		return 0;
	vu_be_pause_rings(b);
	return vu_be_resume_rings(b, why);
}

/* ------------------------------------------------------------------------
 * Handlers: rings
 * ------------------------------------------------------------------------ */

/* HOSTILE F8: the index is checked as the full 32-bit value. */
static int ring_index(const struct vu_backend *b, struct req_ctx *c, uint32_t index,
		      struct vring_slot **out)
{
	if (index >= b->cfg.num_queues)
		return fail(c, -EINVAL, "vring index out of range");
	*out = &b->vrings[index];
	return 0;
}

int vu_be_set_vring_num(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_vring_state *st = &c->m->payload.state;
	struct vring_slot *s;
	int rc = ring_index(b, c, st->index, &s);
	if (rc)
		return rc;
	uint32_t max = max_queue_size(b);
	if (st->num == 0 || st->num > max)
		return fail(c, -EINVAL, "ring size out of range");
	/* The format is known only after SET_FEATURES; checked again at start. */
	if (b->features_set && ring_format(b) == VQ_FORMAT_SPLIT && (st->num & (st->num - 1)))
		return fail(c, -EINVAL, "split ring size not a power of two");
	if (s->vq && st->num != s->num)
		return fail(c, -EBUSY, "ring size changed while the ring runs");
	s->num = st->num;
	return 0;
}

int vu_be_set_vring_addr(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_vring_addr *a = &c->m->payload.addr;
	struct vring_slot *s;
	int rc = ring_index(b, c, a->index, &s);
	if (rc)
		return rc;
	if (a->flags & ~(1u << VHOST_VRING_F_LOG))
		return fail(c, -EINVAL, "unknown vring address flags");
	/* QEMU sends the same addresses again to switch logging while the
	 * ring runs; moving a running ring is refused. */
	if (s->vq && (a->desc_user_addr != s->desc_uva || a->avail_user_addr != s->avail_uva ||
		      a->used_user_addr != s->used_uva))
		return fail(c, -EBUSY, "ring moved while the ring runs");
	bool relog = s->vq && (a->flags != s->addr_flags || a->log_guest_addr != s->log_gpa);
	s->desc_uva = a->desc_user_addr;
	s->avail_uva = a->avail_user_addr;
	s->used_uva = a->used_user_addr;
	s->log_gpa = a->log_guest_addr;
	s->addr_flags = a->flags;
	s->addr_set = true;
	/* Logging switched on or off (or moved) under a running ring. */
	return relog ? vu_be_relog_rings(b, &c->why) : 0;
}

int vu_be_set_vring_base(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_vring_state *st = &c->m->payload.state;
	struct vring_slot *s;
	int rc = ring_index(b, c, st->index, &s);
	if (rc)
		return rc;
	if (s->vq)
		return fail(c, -EBUSY, "vring base set while the ring runs");
	s->base = st->num;
	return 0;
}

int vu_be_get_vring_base(struct vu_backend *b, struct req_ctx *c)
{
	struct vhost_vring_state *st = &c->m->payload.state;
	struct vring_slot *s;
	int rc = ring_index(b, c, st->index, &s);
	if (rc)
		return rc;
	bool started = s->vq != NULL;
	vring_stop(b, st->index); /* saves the position in s->base */
	if (started)
		vu_be_state_ring_stopped(b, st->index);
	st->num = s->base;
	vu_msg_make_reply(c->m, sizeof(*st));
	c->reply = true;
	return 0;
}

/* HOSTILE F15: a kick/call/err fd must be an eventfd (when /proc tells). */
static bool fd_is_eventfd(int fd)
{
	char link[64], target[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return fcntl(fd, F_GETFD) != -1; /* no /proc: only insist it is open */
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* The index and fd of SET_VRING_KICK/CALL/ERR (index in bits 0-7, NOFD in
 * bit 8, nothing else). The fd is taken from the message. */
static int vring_fd_req(struct vu_backend *b, struct req_ctx *c, struct vring_slot **s, int *fd)
{
	uint64_t v = c->m->payload.u64;
	if (v & ~(uint64_t)(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK))
		return fail(c, -EINVAL, "unknown bits in the vring fd request");
	int rc = ring_index(b, c, (uint32_t)(v & VHOST_USER_VRING_IDX_MASK), s);
	if (rc)
		return rc;
	bool nofd = v & VHOST_USER_VRING_NOFD_MASK;
	if (nofd != (c->m->nfds == 0))
		return fail(c, -EINVAL, "NOFD flag and fd count disagree");
	*fd = nofd ? -1 : take_fd(c->m);
	if (*fd >= 0 && !fd_is_eventfd(*fd)) {
		close(*fd);
		return fail(c, -EINVAL, "not an eventfd");
	}
	return 0;
}

int vu_be_set_vring_kick(struct vu_backend *b, struct req_ctx *c)
{
	struct vring_slot *s;
	int fd;
	int rc = vring_fd_req(b, c, &s, &fd);
	if (rc)
		return rc;
	unsigned i = (unsigned)(s - b->vrings);
	/* A new kick fd for a running ring: the device lets go of the old
	 * one before it is closed, then gets the ring back. */
	if (s->vq) {
		if (b->ops->queue_stop)
			b->ops->queue_stop(b->opaque, i);
		close_fd(&s->kick_fd);
		s->kick_fd = fd;
		rc = device_queue_start(b, i, &c->why);
		if (rc) {
			vq_free(s->vq);
			s->vq = NULL;
			s->kick_armed = false;
		}
		return rc;
	}
	close_fd(&s->kick_fd);
	s->kick_fd = fd;
	s->kick_armed = true;
	return vring_start(b, i, &c->why);
}

int vu_be_set_vring_call(struct vu_backend *b, struct req_ctx *c)
{
	struct vring_slot *s;
	int fd;
	int rc = vring_fd_req(b, c, &s, &fd);
	if (rc)
		return rc;
	if (fd >= 0 && efd_set_nonblock(fd) < 0) {
		close(fd);
		return fail(c, -EINVAL, "the call fd is not a file descriptor we can use");
	}
	int old = s->call_fd;
	s->call_fd = fd;
	if (s->vq && b->ops->queue_call_fd)
		b->ops->queue_call_fd(b->opaque, (unsigned)(s - b->vrings), fd);
	close_fd(&old);
	return 0;
}

int vu_be_set_vring_err(struct vu_backend *b, struct req_ctx *c)
{
	struct vring_slot *s;
	int fd;
	int rc = vring_fd_req(b, c, &s, &fd);
	if (rc)
		return rc;
	if (fd >= 0 && efd_set_nonblock(fd) < 0) {
		close(fd);
		return fail(c, -EINVAL, "the error fd is not a file descriptor we can use");
	}
	pthread_mutex_lock(&vu_be_err_fd_lock);
	close_fd(&s->err_fd);
	s->err_fd = fd;
	pthread_mutex_unlock(&vu_be_err_fd_lock);
	return 0;
}

int vu_be_set_vring_enable(struct vu_backend *b, struct req_ctx *c)
{
	const struct vhost_vring_state *st = &c->m->payload.state;
	struct vring_slot *s;
	int rc = ring_index(b, c, st->index, &s);
	if (rc)
		return rc;
	if (st->num > 1)
		return fail(c, -EINVAL, "enable value neither 0 nor 1");
	s->enable_set = true;
	s->enabled = st->num;
	if (s->vq && b->ops->queue_enable)
		b->ops->queue_enable(b->opaque, st->index, s->enabled);
	return 0;
}
