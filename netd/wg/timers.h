/*
 * WireGuard's timers (paper section 6), as event hooks plus one poll.
 *
 * The protocol code calls a hook when something happens (a data packet sent,
 * a handshake completed, ...); the hook only records a deadline.  The I/O
 * layer calls wg_timers_schedule() after every wg_* call that involved the
 * peer (any of them may move its deadlines), which files the peer in the
 * device's timer queue (timerq.h) at wg_timers_next_deadline().  It keeps
 * one timer armed at wg_timers_first_deadline() and, when it fires, calls
 * wg_timers_poll() for each peer wg_timers_due() returns: that runs the
 * peer's expired timers and returns WG_ACTION_* bits for the caller to carry
 * out; then wg_timers_schedule() again.
 *
 * Every time is uint64 nanoseconds of CLOCK_MONOTONIC (CLOCK_BOOTTIME is
 * better if the host suspends), passed in by the caller; only
 * wg_timers_handshake_complete() takes CLOCK_REALTIME, for status.  timers.c
 * holds all timing policy; its top comment lists the timers.
 */
#ifndef PM_WG_TIMERS_H
#define PM_WG_TIMERS_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

struct wg_device;
struct wg_peer;
struct wg_keypair;
struct wg_cookie;
struct wg_cookie_checker;

#define WG_NSEC_PER_SEC		UINT64_C(1000000000)
#define WG_TIMER_OFF		UINT64_MAX	/* a disarmed deadline */

enum wg_action {
	/* Call wg_send_initiation() and send it to the peer's endpoint. */
	WG_ACTION_SEND_HANDSHAKE_INITIATION = 1 << 0,
	/* Send an empty data packet: wg_send_data() with no payload. */
	WG_ACTION_SEND_KEEPALIVE = 1 << 1,
	/* Handshake retries exhausted: drop the packets staged for the peer. */
	WG_ACTION_GIVE_UP_HANDSHAKE = 1 << 2,
	/* Done already: every key of the peer was wiped.  For status only. */
	WG_ACTION_KEYS_ZEROED = 1 << 3,
};

struct wg_timers {
	/* Deadlines, monotonic ns, WG_TIMER_OFF when not armed. */
	uint64_t	retransmit_handshake;
	uint64_t	send_keepalive;
	uint64_t	new_handshake;
	uint64_t	zero_key_material;
	uint64_t	persistent_keepalive;
	uint64_t	last_sent_handshake;	/* WG_TIMER_OFF: never */
	uint8_t		handshake_attempts;
	bool		need_another_keepalive;
	bool		sent_lastminute_handshake;
	bool		want_handshake;		/* an initiation was asked for */
	uint32_t	queue_pos;	/* in the device's timerq, or
					 * WG_TIMERQ_NONE */
};

void	wg_timers_init(struct wg_timers *);

/* ---- Event hooks -------------------------------------------------------- */

void	wg_timers_data_sent(struct wg_peer *, uint64_t now_ns);
void	wg_timers_data_received(struct wg_peer *, uint64_t now_ns);
void	wg_timers_any_authenticated_packet_sent(struct wg_peer *);
void	wg_timers_any_authenticated_packet_received(struct wg_peer *);
void	wg_timers_any_authenticated_packet_traversal(struct wg_peer *,
	    uint64_t now_ns);
void	wg_timers_handshake_initiated(struct wg_peer *, uint64_t now_ns);
void	wg_timers_handshake_response_sent(struct wg_peer *, uint64_t now_ns);
void	wg_timers_handshake_complete(struct wg_peer *, uint64_t now_real_ns);
void	wg_timers_session_derived(struct wg_peer *, uint64_t now_ns);
/* Ask for an initiation; a retry keeps counting attempts. */
void	wg_timers_want_handshake(struct wg_peer *, bool is_retry);
/* After sending / receiving data: rekey when the current keypair is old. */
void	wg_timers_keep_key_fresh_sent(struct wg_peer *, uint64_t now_ns);
void	wg_timers_keep_key_fresh_received(struct wg_peer *, uint64_t now_ns);
/* Seconds, 0 = off; turning it on asks for a keepalive right away. */
void	wg_timers_set_persistent_keepalive(struct wg_peer *, uint16_t seconds,
	    uint64_t now_ns);

/* ---- Policy predicates used by the protocol code ------------------------ */

bool	wg_birthdate_has_expired(uint64_t birthdate_ns, uint64_t seconds,
	    uint64_t now_ns);
/* The keypair is older than REJECT_AFTER_TIME: no more use either way. */
bool	wg_timers_keypair_expired(const struct wg_keypair *, uint64_t now_ns);
/* Initiations arriving faster than WG_INITIATIONS_PER_SECOND. */
bool	wg_timers_initiation_flood(const struct wg_peer *, uint64_t now_ns);
bool	wg_timers_may_send_initiation(const struct wg_peer *, uint64_t now_ns);
bool	wg_timers_cookie_secret_expired(const struct wg_cookie_checker *,
	    uint64_t now_ns);
bool	wg_timers_cookie_expired(const struct wg_cookie *, uint64_t now_ns);

/* ---- Driving ------------------------------------------------------------ */

/* Earliest deadline; <= now means poll now, WG_TIMER_OFF means none. */
uint64_t wg_timers_next_deadline(const struct wg_peer *);
/* Runs the expired timers; returns enum wg_action bits. */
unsigned wg_timers_poll(struct wg_peer *, uint64_t now_ns);
/* Files the peer in the device's queue at its next deadline (or takes it
 * out when none is armed). */
void	wg_timers_schedule(struct wg_peer *);
/* The device's earliest queued deadline, WG_TIMER_OFF if none. */
uint64_t wg_timers_first_deadline(const struct wg_device *);
/* A queued peer whose deadline is <= now_ns, or NULL: poll it, act, and
 * schedule it again, until this returns NULL. */
struct wg_peer *wg_timers_due(const struct wg_device *, uint64_t now_ns);

#endif
