/* SPDX-License-Identifier: MIT */
/*
 * vhost-user backend: the restart state file (vu_state_open(); layout in
 * lib/spec/vu_state_file.h; design in docs/vqnetd.md "Restart without loss").
 *
 * Theory of operation. A frontend that does not use INFLIGHT_SHMFD (QEMU's
 * virtio-net) restarts a split ring at its used index after a backend
 * crash, dropping the chains the backend held (vhost-user.rst "Inflight I/O
 * tracking" exists for that), and cannot restart a packed ring at all: QEMU
 * 7.2 keeps no packed position it could send (its
 * virtio_queue_packed_restore_last_avail_idx() is empty), so it sends the
 * position it sent at the previous start. The backend keeps, per ring, the
 * same inflight region the protocol defines (lib/spec/vq_inflight.h:
 * chains in flight with their pop order; for packed rings the device
 * position and wrap counter and a copy of each chain's descriptors) in a
 * file of its own, updated by the ring code with plain stores
 * (vq_set_inflight()); a process killed at any instruction leaves it
 * consistent, since the kernel keeps a shared file mapping's pages.
 *
 * Before the region, each ring has a record: the identity it was started
 * with (ring format, size, negotiated features, the frontend's and the
 * guest's addresses of the ring parts, the frontend's base) and a state.
 * RUNNING: the position is ours alone. STOPPED: GET_VRING_BASE gave it to
 * the frontend, whose base is the truth from then on. A new start resumes
 * from the region only when the record is RUNNING, its checksum holds, its
 * identity is today's, and the frontend's base shows it knows nothing newer
 * (split: the used index of the ring, what QEMU restores; packed: the base
 * of the previous start, what QEMU sends again). Anything else starts
 * clean, with one log line when a RUNNING record was refused.
 *
 * Threads: the control thread writes the records and sets regions up
 * (vu_be_state_attach(), before the ring is handed to the device); the
 * ring's worker writes the region through the ring code.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vqnet/log.h>

#include "base/compiler.h"
#include "backend_internal.h"
#include "../spec/vu_state_file.h"

struct vu_state {
	int fd; /* held open for its lock */
	uint8_t *map;
	size_t bytes;
	unsigned num_rings;
	uint32_t max_queue_size;
	uint64_t stride;
};

static uint64_t hdr_checksum(const struct vu_state_hdr *h)
{
	return vu_state_fnv1a(h, offsetof(struct vu_state_hdr, checksum));
}

static uint64_t ring_checksum(const struct vu_state_ring *r)
{
	return vu_state_fnv1a(&r->num, offsetof(struct vu_state_ring, checksum) -
					       offsetof(struct vu_state_ring, num));
}

/*
 * Why the header @h (of a file of @size bytes) cannot be kept for @want:
 * NULL when it can; otherwise *corrupt says whether the file is damaged
 * (else it is another device's or layout's) and @buf may hold the reason.
 */
static const char *hdr_refusal(const struct vu_state_hdr *h, uint64_t size,
			       const struct vu_state_hdr *want, bool *corrupt, char *buf,
			       size_t buf_len)
{
	*corrupt = true;
	if (size < sizeof(*h))
		return "shorter than its header";
	if (memcmp(h->magic, VU_STATE_MAGIC, sizeof(h->magic)))
		return "not a vqnet state file";
	if (h->checksum != hdr_checksum(h))
		return "header checksum mismatch";
	if (h->version != VU_STATE_VERSION) {
		snprintf(buf, buf_len, "version %" PRIu32 ", expected %u", h->version,
			 VU_STATE_VERSION);
		return buf;
	}
	if (h->file_bytes != size)
		return "its size differs from its header";
	*corrupt = false;
	if (memcmp(h->device, want->device, sizeof(h->device))) {
		snprintf(buf, buf_len, "device \"%.*s\", now \"%s\"", (int)sizeof(h->device) - 1,
			 h->device, want->device);
		return buf;
	}
	if (h->num_rings != want->num_rings || h->max_queue_size != want->max_queue_size ||
	    h->ring_stride != want->ring_stride) {
		snprintf(buf, buf_len,
			 "%" PRIu32 " rings of up to %" PRIu32 " entries, now %" PRIu32
			 " of up to %" PRIu32,
			 h->num_rings, h->max_queue_size, want->num_rings, want->max_queue_size);
		return buf;
	}
	return NULL;
}

/* Read the header and decide; on refusal the file is emptied (every record
 * EMPTY) and sized for @want. Return 0 or -errno. */
static int check_or_reset(int fd, const char *path, const struct vu_state_hdr *want)
{
	struct vu_state_hdr h = {0};
	struct stat st;
	char buf[VU_STATE_DEVICE_MAX * 2 + 64];
	bool corrupt;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size > 0 && pread(fd, &h, sizeof(h), 0) < 0)
		return -errno;
	const char *why = hdr_refusal(&h, (uint64_t)st.st_size, want, &corrupt, buf, sizeof(buf));
	if (!why) {
		vqnet_log(VQNET_LOG_INFO, "state", "%s: kept for the rings to resume", path);
		return 0;
	}
	if (st.st_size == 0)
		vqnet_log(VQNET_LOG_INFO, "state", "%s: created", path);
	else
		vqnet_log(VQNET_LOG_WARN, "state", "%s refused: %s (%s); starting clean", path,
			  corrupt ? "corrupt" : "from another device", why);
	if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)want->file_bytes) < 0)
		return -errno;
	return 1;
}

VQNET_EXPORT int vu_state_open(const char *path, const char *device, unsigned num_queues,
			       uint32_t max_queue_size, struct vu_state **out)
{
	if (!path || !device || !out || num_queues == 0 || num_queues > VU_MAX_QUEUES ||
	    max_queue_size > VQ_MAX_QUEUE_SIZE || strlen(device) >= VU_STATE_DEVICE_MAX)
		return -EINVAL;
	if (max_queue_size == 0)
		max_queue_size = VQ_MAX_QUEUE_SIZE;
	struct vu_state_hdr want = {.version = VU_STATE_VERSION,
				    .num_rings = num_queues,
				    .max_queue_size = max_queue_size,
				    .ring_stride = (uint32_t)vu_state_ring_stride(max_queue_size)};
	memcpy(want.magic, VU_STATE_MAGIC, sizeof(want.magic));
	strcpy(want.device, device);
	want.file_bytes = VU_STATE_PAGE + (uint64_t)num_queues * want.ring_stride;
	want.checksum = hdr_checksum(&want);

	struct vu_state *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	int rc;
	st->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (st->fd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* One backend per file: a second vqnetd on the same device must not
	 * write the rings' state under the first one's feet. */
	if (flock(st->fd, LOCK_EX | LOCK_NB) < 0) {
		rc = -errno;
		goto err_close;
	}
	rc = check_or_reset(st->fd, path, &want);
	if (rc < 0)
		goto err_close;
	bool fresh = rc == 1;
	st->bytes = (size_t)want.file_bytes;
	void *map = mmap(NULL, st->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, st->fd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto err_close;
	}
	st->map = map;
	if (fresh)
		memcpy(st->map, &want, sizeof(want)); /* the records are zero: EMPTY */
	st->num_rings = num_queues;
	st->max_queue_size = max_queue_size;
	st->stride = want.ring_stride;
	*out = st;
	return 0;
err_close:
	close(st->fd);
err_free:
	free(st);
	return rc;
}

VQNET_EXPORT void vu_state_close(struct vu_state *st)
{
	if (!st)
		return;
	munmap(st->map, st->bytes);
	close(st->fd);
	free(st);
}

bool vu_be_state_fits(const struct vu_state *st, unsigned num_queues, uint32_t max_queue_size)
{
	uint32_t max = max_queue_size ? max_queue_size : VQ_MAX_QUEUE_SIZE;
	return st->num_rings == num_queues && st->max_queue_size == max;
}

static struct vu_state_ring *ring_rec(const struct vu_state *st, unsigned i)
{
	return (struct vu_state_ring *)(st->map + VU_STATE_PAGE + i * st->stride);
}

static void *ring_region(const struct vu_state *st, unsigned i)
{
	return st->map + VU_STATE_PAGE + i * st->stride + VU_STATE_RING_HDR;
}

/* Record stores reach the file in program order (a kill can come between
 * any two): state last when arming, first when disarming. */
static void set_state(struct vu_state_ring *r, uint32_t state)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&r->state, state, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* The identity ring @i starts with now. */
static struct vu_state_ring identity(const struct vu_backend *b, unsigned i)
{
	const struct vring_slot *s = &b->vrings[i];
	struct vu_state_ring r = {.state = VU_STATE_RING_RUNNING,
				  .num = s->num,
				  .features = virtio_features(b),
				  .desc_uva = s->desc_uva,
				  .avail_uva = s->avail_uva,
				  .used_uva = s->used_uva,
				  .desc_gpa = s->vq_cfg.desc_gpa,
				  .driver_gpa = s->vq_cfg.driver_gpa,
				  .device_gpa = s->vq_cfg.device_gpa,
				  .start_base = s->base,
				  .format = vq_get_format(s->vq)};
	r.checksum = ring_checksum(&r);
	return r;
}

/*
 * A packed ring a new driver started (zeroed, §2.8.1: its first lap makes
 * descriptors available with AVAIL = 1, USED = 0) has no descriptor with
 * its USED bit set until the device writes one. A ring that ran past its
 * first lap always has one somewhere (§2.8.9: a used descriptor has AVAIL
 * = USED = the device's wrap counter; §2.8.6: one the driver made
 * available in a lap of wrap counter 0 has USED = 1), except at device
 * position 0 with wrap counter 1, which is also where a new ring starts:
 * resumed as it is. The whole ring is looked at, once, at start: a chain
 * of several descriptors or an IN_ORDER batch (§2.8.8) is used in one slot
 * only, so no single slot can be relied on.
 */
static const char *packed_ring_refusal(const struct vu_backend *b, const struct vu_state_ring *now,
				       const struct vq_inflight_packed *reg)
{
	uint16_t pos = __atomic_load_n(&reg->used_idx, __ATOMIC_RELAXED);
	bool wrap = __atomic_load_n(&reg->used_wrap_counter, __ATOMIC_RELAXED) != 0;
	if (pos >= now->num || (wrap && pos == 0))
		return NULL; /* out of range: vq_set_inflight() refuses it */
	uint32_t hint = 0;
	for (uint32_t slot = 0; slot < now->num; slot++) {
		const uint16_t *flags =
			gmem_ptr(b->mem, now->desc_gpa + 16ull * slot + 14, 2, &hint);
		if (!flags)
			break;
		if (le16toh(__atomic_load_n(flags, __ATOMIC_ACQUIRE)) & (1u << 15))
			return NULL;
	}
	return "the ring has no used descriptor: a new driver started it";
}

/*
 * Why ring @i must not resume from its record @r (a private copy): NULL
 * when it may; "" when there is nothing to resume (say nothing); else the
 * reason, possibly in @buf.
 */
static const char *resume_refusal(const struct vu_backend *b, unsigned i,
				  const struct vu_state_ring *r, const struct vu_state_ring *now,
				  char *buf, size_t len)
{
	const struct vring_slot *s = &b->vrings[i];
	if (r->state == VU_STATE_RING_EMPTY || r->state == VU_STATE_RING_STOPPED)
		return "";
	if (r->state != VU_STATE_RING_RUNNING || r->checksum != ring_checksum(r))
		return "its record is corrupt";
	if (r->format != now->format || r->features != now->features || r->num != now->num) {
		snprintf(buf, len,
			 "a different negotiation: %s ring of %" PRIu32 ", features %#" PRIx64
			 "; now %s ring of %" PRIu32 ", features %#" PRIx64,
			 r->format == VQ_FORMAT_PACKED ? "packed" : "split", r->num, r->features,
			 now->format == VQ_FORMAT_PACKED ? "packed" : "split", now->num,
			 now->features);
		return buf;
	}
	if (r->desc_uva != now->desc_uva || r->avail_uva != now->avail_uva ||
	    r->used_uva != now->used_uva || r->desc_gpa != now->desc_gpa ||
	    r->driver_gpa != now->driver_gpa || r->device_gpa != now->device_gpa)
		return "the ring is at other addresses (another guest or frontend)";
	if (now->format == VQ_FORMAT_PACKED) {
		/* QEMU sends the base of the previous start again. */
		if (s->base != r->start_base) {
			snprintf(buf, len,
				 "the frontend gives base %#" PRIx32 ", not %#" PRIx32
				 " as at the start: it knows the position",
				 s->base, r->start_base);
			return buf;
		}
		return packed_ring_refusal(b, now, ring_region(b->cfg.state, i));
	}
	/* Split: QEMU restores the avail index from used->idx. */
	uint32_t hint = 0;
	const uint16_t *used_idx = gmem_ptr(b->mem, now->device_gpa + 2, 2, &hint);
	uint16_t u = used_idx ? le16toh(__atomic_load_n(used_idx, __ATOMIC_ACQUIRE)) : 0;
	if (!used_idx || s->base != u) {
		snprintf(buf, len,
			 "the frontend gives avail index %" PRIu32 ", not the used index %u: it "
			 "knows the position",
			 s->base, u);
		return buf;
	}
	/* The used index we wrote last. A ring whose used->idx is elsewhere
	 * was completed by someone else meanwhile (QEMU drops what is on a
	 * transmitq when the link goes down, its virtio_net_set_status(),
	 * popping from the used index: our chains in flight included) or
	 * started again by a new driver (zeroed: 0); resubmitting would
	 * complete chains twice. The same test refuses a kill between the
	 * used->idx store and the region's: the chains are then taken again
	 * from the avail ring at used->idx, as without the file. */
	const struct vq_inflight_split *reg = ring_region(b->cfg.state, i);
	uint16_t ours = __atomic_load_n(&reg->used_idx, __ATOMIC_RELAXED);
	if (u != ours) {
		snprintf(buf, len,
			 "the ring's used index is %u, ours was %u: the frontend or a new driver "
			 "completed chains",
			 u, ours);
		return buf;
	}
	return NULL;
}

static uint64_t region_bytes(enum vq_format f, uint32_t size)
{
	return f == VQ_FORMAT_PACKED ? vq_inflight_packed_bytes(size)
				     : vq_inflight_split_bytes(size);
}

/*
 * vu_be_state_attach() - give the new vq of ring @i (not handed to the
 * device yet) its region of the state file: resumed when its record
 * allows (the chains the previous process held are handed out again
 * first, the position restored), else started clean at the vq's
 * position. Return: 0, or -EINVAL with *why set (a clean region refused:
 * cannot happen short of a bug).
 */
int vu_be_state_attach(struct vu_backend *b, unsigned i, const char **why)
{
	struct vu_state *st = b->cfg.state;
	struct vu_state_ring *rec = ring_rec(st, i);
	void *region = ring_region(st, i);
	struct vring_slot *s = &b->vrings[i];
	struct vu_state_ring old = *rec, now = identity(b, i);
	uint64_t bytes = region_bytes(now.format, s->num);
	char buf[256];

	const char *reason = resume_refusal(b, i, &old, &now, buf, sizeof(buf));
	if (!reason) {
		if (vq_set_inflight(s->vq, region, bytes) == 0) {
			vqnet_log(VQNET_LOG_INFO, "vhost-user",
				  "ring %u resumed from the state file (%u chains in flight)", i,
				  vq_inflight_resubmit_pending(s->vq));
			return 0;
		}
		reason = "its region is corrupt";
	}
	if (*reason)
		vqnet_log(VQNET_LOG_WARN, "vhost-user",
			  "ring %u: state file refused (%s); starting clean", i, reason);
	/* Clean: disarmed, identity, a region never initialised (version 0:
	 * vq_set_inflight() starts it at the vq's position), then armed. */
	set_state(rec, VU_STATE_RING_EMPTY);
	now.state = VU_STATE_RING_EMPTY;
	memcpy(rec, &now, sizeof(now));
	memset(region, 0, 64); /* the region's header: version 0 */
	if (vq_set_inflight(s->vq, region, bytes)) {
		*why = "the state file's clean region was refused";
		return -EINVAL;
	}
	set_state(rec, VU_STATE_RING_RUNNING);
	return 0;
}

/* Ring @i broke: nothing to resume (the next start is clean). */
void vu_be_state_ring_forget(struct vu_backend *b, unsigned i)
{
	if (b->cfg.state)
		set_state(ring_rec(b->cfg.state, i), VU_STATE_RING_EMPTY);
}

/* GET_VRING_BASE stopped ring @i, started on this connection: the frontend
 * has its position now. */
void vu_be_state_ring_stopped(struct vu_backend *b, unsigned i)
{
	if (b->cfg.state)
		set_state(ring_rec(b->cfg.state, i), VU_STATE_RING_STOPPED);
}
