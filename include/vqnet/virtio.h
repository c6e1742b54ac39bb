/* SPDX-License-Identifier: MIT */
/*
 * VIRTIO 1.2 numbers shared by every device type, public because callers
 * of the vqnet libraries choose features and ring sizes with them: the
 * feature bits reserved for the transport and rings (§6) and the largest
 * queue size.
 */
#ifndef VQNET_VIRTIO_H
#define VQNET_VIRTIO_H

/* Ring-related feature bits, VIRTIO 1.2 §6. */
#define VIRTIO_F_INDIRECT_DESC	 28
#define VIRTIO_F_EVENT_IDX	 29
#define VIRTIO_F_VERSION_1	 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED	 34
#define VIRTIO_F_IN_ORDER	 35

/* §2.6: Queue Size is at most 32768 for both ring formats. */
#define VQ_MAX_QUEUE_SIZE 32768u

#endif
