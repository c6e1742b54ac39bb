/* SPDX-License-Identifier: MIT */
/*
 * vhost-user wire formats (QEMU docs/interop/vhost-user.rst): message header,
 * payloads, request and protocol-feature numbers. Layouts and constants
 * only; numbers are in host byte order on the wire.
 */
#ifndef VQNET_SPEC_VHOST_USER_MSG_H
#define VQNET_SPEC_VHOST_USER_MSG_H

#include <assert.h>
#include <stdint.h>

/* Virtio feature bits vhost-user adds. */
#define VHOST_F_LOG_ALL		       26
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits. */
#define VHOST_USER_PROTOCOL_F_MQ		   0
#define VHOST_USER_PROTOCOL_F_LOG_SHMFD		   1
#define VHOST_USER_PROTOCOL_F_RARP		   2
#define VHOST_USER_PROTOCOL_F_REPLY_ACK		   3
#define VHOST_USER_PROTOCOL_F_NET_MTU		   4
#define VHOST_USER_PROTOCOL_F_BACKEND_REQ	   5
#define VHOST_USER_PROTOCOL_F_CROSS_ENDIAN	   6
#define VHOST_USER_PROTOCOL_F_CRYPTO_SESSION	   7
#define VHOST_USER_PROTOCOL_F_PAGEFAULT		   8
#define VHOST_USER_PROTOCOL_F_CONFIG		   9
#define VHOST_USER_PROTOCOL_F_BACKEND_SEND_FD	   10
#define VHOST_USER_PROTOCOL_F_HOST_NOTIFIER	   11
#define VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD	   12
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE	   13
#define VHOST_USER_PROTOCOL_F_INBAND_NOTIFICATIONS 14
#define VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS  15
#define VHOST_USER_PROTOCOL_F_STATUS		   16

/* Header flags. */
#define VHOST_USER_VERSION_MASK	   0x3u
#define VHOST_USER_VERSION	   0x1u
#define VHOST_USER_REPLY_MASK	   (1u << 2)
#define VHOST_USER_NEED_REPLY_MASK (1u << 3)

/* SET_VRING_KICK/CALL/ERR payload: vring index in bits 0-7, NOFD in bit 8. */
#define VHOST_USER_VRING_IDX_MASK  0xffu
#define VHOST_USER_VRING_NOFD_MASK (1u << 8)

/* SET_VRING_ADDR flags. */
#define VHOST_VRING_F_LOG 0

/* SET_MEM_TABLE carries at most this many regions (and fds). */
#define VHOST_MEMORY_BASELINE_NREGIONS 8
/* The most fds one message carries. */
#define VHOST_USER_MAX_FDS 8
/* The largest config space exchanged. */
#define VHOST_USER_MAX_CONFIG_SIZE 256

/* Front-end requests. */
#define VHOST_USER_GET_FEATURES		 1
#define VHOST_USER_SET_FEATURES		 2
#define VHOST_USER_SET_OWNER		 3
#define VHOST_USER_RESET_OWNER		 4
#define VHOST_USER_SET_MEM_TABLE	 5
#define VHOST_USER_SET_LOG_BASE		 6
#define VHOST_USER_SET_LOG_FD		 7
#define VHOST_USER_SET_VRING_NUM	 8
#define VHOST_USER_SET_VRING_ADDR	 9
#define VHOST_USER_SET_VRING_BASE	 10
#define VHOST_USER_GET_VRING_BASE	 11
#define VHOST_USER_SET_VRING_KICK	 12
#define VHOST_USER_SET_VRING_CALL	 13
#define VHOST_USER_SET_VRING_ERR	 14
#define VHOST_USER_GET_PROTOCOL_FEATURES 15
#define VHOST_USER_SET_PROTOCOL_FEATURES 16
#define VHOST_USER_GET_QUEUE_NUM	 17
#define VHOST_USER_SET_VRING_ENABLE	 18
#define VHOST_USER_SEND_RARP		 19
#define VHOST_USER_NET_SET_MTU		 20
#define VHOST_USER_SET_BACKEND_REQ_FD	 21
#define VHOST_USER_IOTLB_MSG		 22
#define VHOST_USER_SET_VRING_ENDIAN	 23
#define VHOST_USER_GET_CONFIG		 24
#define VHOST_USER_SET_CONFIG		 25
#define VHOST_USER_CREATE_CRYPTO_SESSION 26
#define VHOST_USER_CLOSE_CRYPTO_SESSION	 27
#define VHOST_USER_POSTCOPY_ADVISE	 28
#define VHOST_USER_POSTCOPY_LISTEN	 29
#define VHOST_USER_POSTCOPY_END		 30
#define VHOST_USER_GET_INFLIGHT_FD	 31
#define VHOST_USER_SET_INFLIGHT_FD	 32
#define VHOST_USER_GPU_SET_SOCKET	 33
#define VHOST_USER_RESET_DEVICE		 34
#define VHOST_USER_VRING_KICK		 35
#define VHOST_USER_GET_MAX_MEM_SLOTS	 36
#define VHOST_USER_ADD_MEM_REG		 37
#define VHOST_USER_REM_MEM_REG		 38
#define VHOST_USER_SET_STATUS		 39
#define VHOST_USER_GET_STATUS		 40

/* Back-end requests (on the backend request channel). */
#define VHOST_USER_BACKEND_IOTLB_MSG		   1
#define VHOST_USER_BACKEND_CONFIG_CHANGE_MSG	   2
#define VHOST_USER_BACKEND_VRING_HOST_NOTIFIER_MSG 3

struct vhost_user_header {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* payload bytes that follow */
} __attribute__((packed));
static_assert(sizeof(struct vhost_user_header) == 12, "vhost-user header");

struct vhost_vring_state {
	uint32_t index;
	uint32_t num;
};
static_assert(sizeof(struct vhost_vring_state) == 8, "vring state");

struct vhost_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc_user_addr;
	uint64_t used_user_addr;
	uint64_t avail_user_addr;
	uint64_t log_guest_addr;
};
static_assert(sizeof(struct vhost_vring_addr) == 40, "vring addr");

struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vhost_user_mem_region) == 32, "memory region");

struct vhost_user_memory {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_mem_region regions[VHOST_MEMORY_BASELINE_NREGIONS];
};
static_assert(sizeof(struct vhost_user_memory) == 8 + 8 * 32, "memory table");

/* ADD_MEM_REG / REM_MEM_REG */
struct vhost_user_mem_reg {
	uint64_t padding;
	struct vhost_user_mem_region region;
};
static_assert(sizeof(struct vhost_user_mem_reg) == 40, "single memory region");

struct vhost_user_log {
	uint64_t mmap_size;
	uint64_t mmap_offset;
};
static_assert(sizeof(struct vhost_user_log) == 16, "log");

struct vhost_user_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t region[VHOST_USER_MAX_CONFIG_SIZE];
};
static_assert(sizeof(struct vhost_user_config) == 12 + 256, "config");
#define VHOST_USER_CONFIG_HDR_SIZE 12u

struct vhost_user_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
};
static_assert(sizeof(struct vhost_user_inflight) == 24, "inflight");

/* The largest payload any request carries (SET_MEM_TABLE / config). */
#define VHOST_USER_MAX_PAYLOAD                                                                     \
	(sizeof(struct vhost_user_config) > sizeof(struct vhost_user_memory)                       \
		 ? sizeof(struct vhost_user_config)                                                \
		 : sizeof(struct vhost_user_memory))

#endif
