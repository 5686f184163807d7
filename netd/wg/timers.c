/*
 * All of WireGuard's timing policy (paper section 6; wireguard-linux
 * timers.c and send.c/receive.c keep_key_fresh(), wireguard-go timers.go).
 *
 * Limits on a keypair:
 *   REKEY_AFTER_MESSAGES   2^60 sent: the sender asks for a new handshake.
 *   REJECT_AFTER_MESSAGES  2^64 - 2^13 - 1: no more sending or receiving.
 *   REKEY_AFTER_TIME       120 s: the initiator (only it, so the two sides
 *                          do not both rekey) starts a handshake when it
 *                          next sends.
 *   REJECT_AFTER_TIME      180 s: the keypair is useless either way.  After
 *                          REJECT - KEEPALIVE - REKEY_TIMEOUT = 165 s the
 *                          initiator rekeys once when it receives, so a
 *                          receive-only session survives.
 *
 * The per-peer timers (deadlines in struct wg_timers):
 *   retransmit_handshake   REKEY_TIMEOUT (5 s) + jitter (0..333 ms) after an
 *                          initiation with no response: send another.  After
 *                          MAX_TIMER_HANDSHAKES (REKEY_ATTEMPT_TIME 90 s /
 *                          REKEY_TIMEOUT) retries give up, drop staged
 *                          packets, and arm zero_key_material.
 *   send_keepalive         KEEPALIVE_TIMEOUT (10 s) after data was received
 *                          with nothing sent since: send a keepalive so the
 *                          sender knows the session works.
 *   new_handshake          KEEPALIVE_TIMEOUT + REKEY_TIMEOUT (15 s) + jitter
 *                          after data was sent with nothing received since
 *                          (not even a keepalive): the session seems dead,
 *                          start a new handshake.
 *   zero_key_material      3 x REJECT_AFTER_TIME (540 s) after the last new
 *                          session: wipe every key of the peer.
 *   persistent_keepalive   the configured interval after any authenticated
 *                          packet went either way: send a keepalive (keeps
 *                          NAT mappings alive).
 * Plus two rate limits: at most one initiation per REKEY_TIMEOUT, at most
 * INITIATIONS_PER_SECOND consumed initiations per peer; and
 * COOKIE_SECRET_MAX_AGE (120 s), the life of the cookie secret, with
 * COOKIE_SECRET_LATENCY (5 s) taken off before we stop using a cookie.
 *
 * Hooks only record deadlines; wg_timers_poll() fires them.  A fired timer is
 * disarmed before its handler runs, as a kernel timer is.
 */
#include <sodium.h>

#include "peer.h"
#include "timers.h"

#define SEC(s)	((uint64_t)(s) * WG_NSEC_PER_SEC)

/*
 * REKEY_TIMEOUT jitter, 0..WG_REKEY_TIMEOUT_JITTER_MAX_MS ms, uniform.
 * wg_timers_data_sent() draws it on the data path (whenever a packet goes
 * out with the new-handshake timer disarmed, i.e. once per burst after
 * anything was received), and libsodium's randombytes is a getrandom()
 * call each time; so draws come from a pool refilled once per
 * JITTER_POOL of them.  The jitter only spreads handshakes out in time;
 * it protects no secret, so holding it in memory costs nothing.
 */
#define JITTER_POOL	128
#define JITTER_RANGE	(WG_REKEY_TIMEOUT_JITTER_MAX_MS + 1)
/* Rejecting draws at or above this keeps v % JITTER_RANGE uniform. */
#define JITTER_LIMIT	(65536 - 65536 % JITTER_RANGE)

static _Thread_local uint16_t jitter_pool[JITTER_POOL];
static _Thread_local unsigned jitter_used = JITTER_POOL;

static uint64_t
jitter(void)
{
	uint16_t v;

	do {
		if (jitter_used == JITTER_POOL) {
			randombytes_buf(jitter_pool, sizeof(jitter_pool));
			jitter_used = 0;
		}
		v = jitter_pool[jitter_used++];
	} while (v >= JITTER_LIMIT);
	return (uint64_t)(v % JITTER_RANGE) * UINT64_C(1000000);
}

static bool
armed(uint64_t deadline)
{
	return deadline != WG_TIMER_OFF;
}

static bool
due(uint64_t *deadline, uint64_t now_ns)
{
	if (!armed(*deadline) || *deadline > now_ns)
		return false;
	*deadline = WG_TIMER_OFF;
	return true;
}

void
wg_timers_init(struct wg_timers *t)
{
	*t = (struct wg_timers){
		.retransmit_handshake = WG_TIMER_OFF,
		.send_keepalive = WG_TIMER_OFF,
		.new_handshake = WG_TIMER_OFF,
		.zero_key_material = WG_TIMER_OFF,
		.persistent_keepalive = WG_TIMER_OFF,
		.last_sent_handshake = WG_TIMER_OFF,
		.queue_pos = WG_TIMERQ_NONE,
	};
}

/* ---- Predicates --------------------------------------------------------- */

bool
wg_birthdate_has_expired(uint64_t birthdate_ns, uint64_t seconds,
    uint64_t now_ns)
{
	return birthdate_ns + SEC(seconds) <= now_ns;
}

bool
wg_timers_keypair_expired(const struct wg_keypair *kp, uint64_t now_ns)
{
	return wg_birthdate_has_expired(kp->birthdate, WG_REJECT_AFTER_TIME,
	    now_ns);
}

/* The first initiation ever (no timestamp yet) is never a flood. */
bool
wg_timers_initiation_flood(const struct wg_peer *peer, uint64_t now_ns)
{
	if (sodium_is_zero(peer->latest_timestamp, WG_TIMESTAMP_LEN))
		return false;
	return peer->last_initiation_consumption +
	    WG_NSEC_PER_SEC / WG_INITIATIONS_PER_SECOND > now_ns;
}

bool
wg_timers_may_send_initiation(const struct wg_peer *peer, uint64_t now_ns)
{
	uint64_t last = peer->timers.last_sent_handshake;

	return !armed(last) ||
	    wg_birthdate_has_expired(last, WG_REKEY_TIMEOUT, now_ns);
}

bool
wg_timers_cookie_secret_expired(const struct wg_cookie_checker *c,
    uint64_t now_ns)
{
	return !c->secret_set || wg_birthdate_has_expired(c->secret_birthdate,
	    WG_COOKIE_SECRET_MAX_AGE, now_ns);
}

/* The responder may renew its secret while our reply is in flight. */
bool
wg_timers_cookie_expired(const struct wg_cookie *ck, uint64_t now_ns)
{
	return wg_birthdate_has_expired(ck->birthdate,
	    WG_COOKIE_SECRET_MAX_AGE - WG_COOKIE_SECRET_LATENCY, now_ns);
}

/* ---- Hooks -------------------------------------------------------------- */

void
wg_timers_data_sent(struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_timers *t = &peer->timers;

	if (!armed(t->new_handshake))
		t->new_handshake = now_ns +
		    SEC(WG_KEEPALIVE_TIMEOUT + WG_REKEY_TIMEOUT) + jitter();
}

/* A second data packet before the keepalive went out asks for one more. */
void
wg_timers_data_received(struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_timers *t = &peer->timers;

	if (!armed(t->send_keepalive))
		t->send_keepalive = now_ns + SEC(WG_KEEPALIVE_TIMEOUT);
	else
		t->need_another_keepalive = true;
}

/* Anything we send confirms liveness, so no keepalive is needed. */
void
wg_timers_any_authenticated_packet_sent(struct wg_peer *peer)
{
	peer->timers.send_keepalive = WG_TIMER_OFF;
}

/* Anything we receive proves the session works. */
void
wg_timers_any_authenticated_packet_received(struct wg_peer *peer)
{
	peer->timers.new_handshake = WG_TIMER_OFF;
}

void
wg_timers_any_authenticated_packet_traversal(struct wg_peer *peer,
    uint64_t now_ns)
{
	if (peer->persistent_keepalive_interval != 0)
		peer->timers.persistent_keepalive = now_ns +
		    SEC(peer->persistent_keepalive_interval);
}

void
wg_timers_handshake_initiated(struct wg_peer *peer, uint64_t now_ns)
{
	peer->timers.last_sent_handshake = now_ns;
	peer->timers.retransmit_handshake = now_ns + SEC(WG_REKEY_TIMEOUT) +
	    jitter();
}

/* A response counts against the rate limit on initiations too. */
void
wg_timers_handshake_response_sent(struct wg_peer *peer, uint64_t now_ns)
{
	peer->timers.last_sent_handshake = now_ns;
}

void
wg_timers_handshake_complete(struct wg_peer *peer, uint64_t now_real_ns)
{
	struct wg_timers *t = &peer->timers;

	t->retransmit_handshake = WG_TIMER_OFF;
	t->handshake_attempts = 0;
	t->sent_lastminute_handshake = false;
	peer->last_handshake_real_ns = now_real_ns;
}

void
wg_timers_session_derived(struct wg_peer *peer, uint64_t now_ns)
{
	peer->timers.zero_key_material = now_ns + SEC(3 * WG_REJECT_AFTER_TIME);
}

void
wg_timers_want_handshake(struct wg_peer *peer, bool is_retry)
{
	if (!is_retry)
		peer->timers.handshake_attempts = 0;
	peer->timers.want_handshake = true;
}

void
wg_timers_keep_key_fresh_sent(struct wg_peer *peer, uint64_t now_ns)
{
	const struct wg_keypair *kp = peer->keypairs.current;

	if (kp == NULL || !kp->send_valid)
		return;
	if (kp->send_counter > WG_REKEY_AFTER_MESSAGES ||
	    (kp->initiator && wg_birthdate_has_expired(kp->birthdate,
	    WG_REKEY_AFTER_TIME, now_ns)))
		wg_timers_want_handshake(peer, false);
}

/* Once per session, shortly before the initiator's keypair would expire. */
void
wg_timers_keep_key_fresh_received(struct wg_peer *peer, uint64_t now_ns)
{
	const struct wg_keypair *kp = peer->keypairs.current;

	if (peer->timers.sent_lastminute_handshake)
		return;
	if (kp == NULL || !kp->send_valid || !kp->initiator)
		return;
	if (wg_birthdate_has_expired(kp->birthdate, WG_REJECT_AFTER_TIME -
	    WG_KEEPALIVE_TIMEOUT - WG_REKEY_TIMEOUT, now_ns)) {
		peer->timers.sent_lastminute_handshake = true;
		wg_timers_want_handshake(peer, false);
	}
}

void
wg_timers_set_persistent_keepalive(struct wg_peer *peer, uint16_t seconds,
    uint64_t now_ns)
{
	uint16_t old = peer->persistent_keepalive_interval;

	peer->persistent_keepalive_interval = seconds;
	if (seconds == 0)
		peer->timers.persistent_keepalive = WG_TIMER_OFF;
	else if (old == 0)
		peer->timers.persistent_keepalive = now_ns;
}

/* ---- Expiry handlers ---------------------------------------------------- */

static unsigned
expired_retransmit_handshake(struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_timers *t = &peer->timers;

	if (t->handshake_attempts > WG_MAX_TIMER_HANDSHAKES) {
		t->send_keepalive = WG_TIMER_OFF;
		/* Wipe whatever is left of the partial exchange, later. */
		if (!armed(t->zero_key_material))
			t->zero_key_material = now_ns +
			    SEC(3 * WG_REJECT_AFTER_TIME);
		return WG_ACTION_GIVE_UP_HANDSHAKE;
	}
	t->handshake_attempts++;
	wg_timers_want_handshake(peer, true);
	return 0;
}

static unsigned
expired_send_keepalive(struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_timers *t = &peer->timers;

	if (t->need_another_keepalive) {
		t->need_another_keepalive = false;
		t->send_keepalive = now_ns + SEC(WG_KEEPALIVE_TIMEOUT);
	}
	return WG_ACTION_SEND_KEEPALIVE;
}

static unsigned
expired_new_handshake(struct wg_peer *peer)
{
	wg_timers_want_handshake(peer, false);
	return 0;
}

static unsigned
expired_zero_key_material(struct wg_peer *peer)
{
	wg_peer_clear_keys(peer);
	return WG_ACTION_KEYS_ZEROED;
}

static unsigned
expired_persistent_keepalive(struct wg_peer *peer)
{
	return peer->persistent_keepalive_interval != 0 ?
	    WG_ACTION_SEND_KEEPALIVE : 0;
}

/*
 * A wish for an initiation is granted if none went out in the last
 * REKEY_TIMEOUT, and otherwise dropped: the retransmit timer armed by that
 * recent initiation already covers it.
 */
static unsigned
handshake_wanted(struct wg_peer *peer, uint64_t now_ns)
{
	if (!peer->timers.want_handshake)
		return 0;
	peer->timers.want_handshake = false;
	return wg_timers_may_send_initiation(peer, now_ns) ?
	    WG_ACTION_SEND_HANDSHAKE_INITIATION : 0;
}

/* ---- Driving ------------------------------------------------------------ */

uint64_t
wg_timers_next_deadline(const struct wg_peer *peer)
{
	const struct wg_timers *t = &peer->timers;
	uint64_t d = t->retransmit_handshake;

	if (t->want_handshake)
		return 0;
	if (t->send_keepalive < d)
		d = t->send_keepalive;
	if (t->new_handshake < d)
		d = t->new_handshake;
	if (t->zero_key_material < d)
		d = t->zero_key_material;
	if (t->persistent_keepalive < d)
		d = t->persistent_keepalive;
	return d;
}

unsigned
wg_timers_poll(struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_timers *t = &peer->timers;
	unsigned actions = 0;

	if (due(&t->retransmit_handshake, now_ns))
		actions |= expired_retransmit_handshake(peer, now_ns);
	if (due(&t->send_keepalive, now_ns))
		actions |= expired_send_keepalive(peer, now_ns);
	if (due(&t->new_handshake, now_ns))
		actions |= expired_new_handshake(peer);
	if (due(&t->zero_key_material, now_ns))
		actions |= expired_zero_key_material(peer);
	if (due(&t->persistent_keepalive, now_ns))
		actions |= expired_persistent_keepalive(peer);
	actions |= handshake_wanted(peer, now_ns);
	return actions;
}

void
wg_timers_schedule(struct wg_peer *peer)
{
	wg_timerq_set(&peer->dev->timerq, peer, wg_timers_next_deadline(peer));
}

uint64_t
wg_timers_first_deadline(const struct wg_device *dev)
{
	return wg_timerq_first(&dev->timerq);
}

struct wg_peer *
wg_timers_due(const struct wg_device *dev, uint64_t now_ns)
{
	return wg_timerq_due(&dev->timerq, now_ns);
}
