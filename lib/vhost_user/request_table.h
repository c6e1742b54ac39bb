/* SPDX-License-Identifier: MIT */
/*
 * The vhost-user front-end request table (internal to lib/vhost_user).
 *
 * One row per request vqnet implements: its handler and its shape (QEMU
 * docs/interop/vhost-user.rst, "Front-end message types"). Both users
 * expand the same rows, so they cannot drift:
 *
 *  - msg.c (the codec) builds the lookup array, the log names and the
 *    size checks from every column but the handler, which it ignores: the
 *    codec stays pure and knows nothing of the backend.
 *  - backend.c builds handlers[] from the handler column alone, as
 *    [VHOST_USER_<name>] = <handler>: a row whose handler does not exist
 *    does not compile, and a static handler (h_* in backend.c) no row
 *    names is an unused function, an error under -Werror. The vu_be_*
 *    handlers of the other backend files are extern: a row dropped from
 *    the table leaves them unused without a diagnostic.
 *
 * Both arrays have VU_REQUEST_TABLE_LEN entries (static_assert in each
 * file), so every request msg.c finds a row for indexes handlers[] within
 * bounds, at an entry that holds its handler.
 *
 * Included by msg.c and backend.c only: the column names below (NONE, PF,
 * U64, ...) are short on purpose and not meant for anything else.
 */
#ifndef VQNET_VHOST_USER_REQUEST_TABLE_H
#define VQNET_VHOST_USER_REQUEST_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "spec/vhost_user_msg.h"

#define NONE	-1
#define PF(x)	VHOST_USER_PROTOCOL_F_##x
#define U64	8u
#define STATE	((uint32_t)sizeof(struct vhost_vring_state))
#define ADDR	((uint32_t)sizeof(struct vhost_vring_addr))
#define MEM_FDS VHOST_MEMORY_BASELINE_NREGIONS
#define MEM_MIN ((uint32_t)(8 + sizeof(struct vhost_user_mem_region)))
#define MEM_MAX ((uint32_t)sizeof(struct vhost_user_memory))
#define LOG	((uint32_t)sizeof(struct vhost_user_log))
#define CFG_MIN VHOST_USER_CONFIG_HDR_SIZE
#define CFG_MAX ((uint32_t)sizeof(struct vhost_user_config))
#define INFL	((uint32_t)sizeof(struct vhost_user_inflight))
#define MEMREG	((uint32_t)sizeof(struct vhost_user_mem_reg))

/*
 * X(name, handler, fds_min, fds_max, size_min, size_max, always_replies,
 *   protocol feature)
 *
 * Handlers: h_* are in backend.c, vu_be_* in backend_vring.c,
 * backend_mem.c and backend_inflight.c (declared in backend_internal.h).
 * RESET_OWNER and RESET_DEVICE share h_reset_device.
 *
 * SET_LOG_BASE always replies: QEMU waits for a (size 0) reply when
 * LOG_SHMFD is negotiated, and the fd form is the only one vqnet accepts,
 * so the row asks for LOG_SHMFD and one fd. SET_VRING_KICK/CALL/ERR carry
 * zero or one fd; vu_msg_check() ties the count to the NOFD bit.
 */
#define VU_REQUESTS(X)                                                                             \
	X(GET_FEATURES, h_get_features, 0, 0, 0, U64, true, NONE)                                  \
	X(SET_FEATURES, h_set_features, 0, 0, U64, U64, false, NONE)                               \
	X(SET_OWNER, h_set_owner, 0, 0, 0, 0, false, NONE)                                         \
	X(RESET_OWNER, h_reset_device, 0, 0, 0, 0, false, NONE)                                    \
	X(SET_MEM_TABLE, vu_be_set_mem_table, 1, MEM_FDS, MEM_MIN, MEM_MAX, false, NONE)           \
	X(SET_LOG_BASE, vu_be_set_log_base, 1, 1, LOG, LOG, true, PF(LOG_SHMFD))                   \
	X(SET_LOG_FD, vu_be_set_log_fd, 1, 1, 0, U64, false, NONE)                                 \
	X(SET_VRING_NUM, vu_be_set_vring_num, 0, 0, STATE, STATE, false, NONE)                     \
	X(SET_VRING_ADDR, vu_be_set_vring_addr, 0, 0, ADDR, ADDR, false, NONE)                     \
	X(SET_VRING_BASE, vu_be_set_vring_base, 0, 0, STATE, STATE, false, NONE)                   \
	X(GET_VRING_BASE, vu_be_get_vring_base, 0, 0, STATE, STATE, true, NONE)                    \
	X(SET_VRING_KICK, vu_be_set_vring_kick, 0, 1, U64, U64, false, NONE)                       \
	X(SET_VRING_CALL, vu_be_set_vring_call, 0, 1, U64, U64, false, NONE)                       \
	X(SET_VRING_ERR, vu_be_set_vring_err, 0, 1, U64, U64, false, NONE)                         \
	X(GET_PROTOCOL_FEATURES, h_get_protocol_features, 0, 0, 0, U64, true, NONE)                \
	X(SET_PROTOCOL_FEATURES, h_set_protocol_features, 0, 0, U64, U64, false, NONE)             \
	X(GET_QUEUE_NUM, h_get_queue_num, 0, 0, 0, U64, true, PF(MQ))                              \
	X(SET_VRING_ENABLE, vu_be_set_vring_enable, 0, 0, STATE, STATE, false, NONE)               \
	X(SEND_RARP, h_send_rarp, 0, 0, U64, U64, false, PF(RARP))                                 \
	X(NET_SET_MTU, h_net_set_mtu, 0, 0, U64, U64, false, PF(NET_MTU))                          \
	X(SET_BACKEND_REQ_FD, h_set_backend_req_fd, 1, 1, 0, U64, false, PF(BACKEND_REQ))          \
	X(GET_CONFIG, h_get_config, 0, 0, CFG_MIN, CFG_MAX, true, PF(CONFIG))                      \
	X(SET_CONFIG, h_set_config, 0, 0, CFG_MIN, CFG_MAX, false, PF(CONFIG))                     \
	X(GET_INFLIGHT_FD, vu_be_get_inflight_fd, 0, 0, INFL, INFL, true, PF(INFLIGHT_SHMFD))      \
	X(SET_INFLIGHT_FD, vu_be_set_inflight_fd, 1, 1, INFL, INFL, false, PF(INFLIGHT_SHMFD))     \
	X(RESET_DEVICE, h_reset_device, 0, 0, 0, 0, false, PF(RESET_DEVICE))                       \
	X(GET_MAX_MEM_SLOTS, h_get_max_mem_slots, 0, 0, 0, U64, true, PF(CONFIGURE_MEM_SLOTS))     \
	X(ADD_MEM_REG, vu_be_add_mem_reg, 1, 1, MEMREG, MEMREG, false, PF(CONFIGURE_MEM_SLOTS))    \
	X(REM_MEM_REG, vu_be_rem_mem_reg, 0, 1, MEMREG, MEMREG, false, PF(CONFIGURE_MEM_SLOTS))    \
	X(SET_STATUS, h_set_status, 0, 0, U64, U64, false, PF(STATUS))                             \
	X(GET_STATUS, h_get_status, 0, 0, 0, U64, true, PF(STATUS))

/* One past the highest request number with a row: the length of msg.c's
 * requests[] and backend.c's handlers[]. */
#define VU_REQUEST_TABLE_LEN (VHOST_USER_GET_STATUS + 1)

#endif
