/*
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s as WireGuard uses it.
 *
 *	IKpsk2:
 *	  <- s
 *	  ...
 *	  -> e, es, s, ss, {t}
 *	  <- e, ee, se, psk, {}
 *
 * Each step below carries its token as a comment.  In WireGuard's psk mode
 * every "e" also mixes the ephemeral public key into the chaining key, and
 * {t} is a TAI64N timestamp that makes a replayed initiation detectable.
 * Intermediate keys, hashes and chaining keys live on the stack and are wiped
 * at the single out: label of each function, on success and failure alike;
 * the peer's state is written only once a message has been authenticated.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "aead.h"
#include "blake2s.h"
#include "kdf.h"
#include "noise.h"
#include "peer.h"

/* HASH(a || b) */
static void
hash2(uint8_t out[WG_HASH_LEN], const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen)
{
	struct blake2s_state st;

	blake2s_init(&st, WG_HASH_LEN, NULL, 0);
	blake2s_update(&st, a, alen);
	blake2s_update(&st, b, blen);
	blake2s_final(&st, out);
}

static void
mix_hash(uint8_t hash[WG_HASH_LEN], const uint8_t *src, size_t len)
{
	hash2(hash, hash, WG_HASH_LEN, src, len);
}

/* Ci = HASH(Construction); Hi = HASH(HASH(Ci || Identifier) || Spub_r) */
static void
handshake_init(uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN],
    const uint8_t responder_static[WG_KEY_LEN])
{
	blake2s(chaining_key, WG_HASH_LEN, (const uint8_t *)WG_CONSTRUCTION,
	    strlen(WG_CONSTRUCTION), NULL, 0);
	hash2(hash, chaining_key, WG_HASH_LEN, (const uint8_t *)WG_IDENTIFIER,
	    strlen(WG_IDENTIFIER));
	mix_hash(hash, responder_static, WG_KEY_LEN);
}

/* e: the public key goes into the hash, and (psk mode) the chaining key. */
static void
message_ephemeral(uint8_t dst[WG_KEY_LEN], const uint8_t src[WG_KEY_LEN],
    uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN])
{
	if (dst != src)
		memcpy(dst, src, WG_KEY_LEN);
	mix_hash(hash, src, WG_KEY_LEN);
	kdf_n(chaining_key, NULL, NULL, 1, chaining_key, src, WG_KEY_LEN);
}

/*
 * (ck, key) = KDF2(ck, DH(priv, pub)), or ck = KDF1 when key is NULL.
 * False for a low-order public key: libsodium refuses an all-zero result.
 */
static bool
mix_dh(uint8_t chaining_key[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
    const uint8_t priv[WG_KEY_LEN], const uint8_t pub[WG_KEY_LEN])
{
	uint8_t dh[WG_KEY_LEN];
	bool ok;

	ok = crypto_scalarmult(dh, priv, pub) == 0;
	if (ok)
		kdf_n(chaining_key, key, NULL, key != NULL ? 2 : 1,
		    chaining_key, dh, sizeof(dh));
	sodium_memzero(dh, sizeof(dh));
	return ok;
}

static bool
mix_precomputed_dh(uint8_t chaining_key[WG_HASH_LEN], uint8_t key[WG_KEY_LEN],
    const uint8_t precomputed[WG_KEY_LEN])
{
	if (sodium_is_zero(precomputed, WG_KEY_LEN))
		return false;
	kdf_n(chaining_key, key, NULL, 2, chaining_key, precomputed, WG_KEY_LEN);
	return true;
}

/* psk: (ck, tau, key) = KDF3(ck, Q); h = HASH(h || tau) */
static void
mix_psk(uint8_t chaining_key[WG_HASH_LEN], uint8_t hash[WG_HASH_LEN],
    uint8_t key[WG_KEY_LEN], const uint8_t psk[WG_KEY_LEN])
{
	uint8_t tau[WG_HASH_LEN];

	kdf_n(chaining_key, tau, key, 3, chaining_key, psk, WG_KEY_LEN);
	mix_hash(hash, tau, sizeof(tau));
	sodium_memzero(tau, sizeof(tau));
}

/* Each handshake key encrypts exactly one message, so the nonce is 0. */
static void
message_encrypt(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t key[WG_KEY_LEN], uint8_t hash[WG_HASH_LEN])
{
	uint8_t nonce[AEAD_NONCE_SIZE] = { 0 };

	/* Cannot fail: fixed, small lengths and non-NULL buffers. */
	(void)aead_seal_oneshot(key, nonce, hash, WG_HASH_LEN, src, len, dst);
	mix_hash(hash, dst, len + WG_TAG_LEN);
}

/* len includes the tag; dst receives len - 16 bytes. */
static bool
message_decrypt(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t key[WG_KEY_LEN], uint8_t hash[WG_HASH_LEN])
{
	uint8_t nonce[AEAD_NONCE_SIZE] = { 0 };

	if (aead_open_oneshot(key, nonce, hash, WG_HASH_LEN, src, len, dst) != 0)
		return false;
	mix_hash(hash, src, len);
	return true;
}

/* A random scalar, or the test's; libsodium clamps when it multiplies. */
static bool
new_ephemeral(uint8_t priv[WG_KEY_LEN], uint8_t pub[WG_KEY_LEN],
    const struct wg_handshake_fixed *fixed)
{
	if (fixed != NULL)
		memcpy(priv, fixed->ephemeral_private, WG_KEY_LEN);
	else
		randombytes_buf(priv, WG_KEY_LEN);
	return crypto_scalarmult_base(pub, priv) == 0;
}

/*
 * TAI64N: seconds since 1970 plus 2^62 + 10 (the TAI offset of 1970),
 * big-endian, then nanoseconds, big-endian.  The nanoseconds are rounded
 * down to 2^24 (about 1/60 s, below 1/INITIATIONS_PER_SECOND) so the
 * timestamp does not leak the sender's precise clock.
 */
void
wg_tai64n(uint8_t out[WG_TIMESTAMP_LEN], uint64_t realtime_ns)
{
	uint64_t sec = UINT64_C(0x400000000000000a) + realtime_ns / WG_NSEC_PER_SEC;
	uint32_t nsec = (uint32_t)(realtime_ns % WG_NSEC_PER_SEC) &
	    ~((UINT32_C(1) << 24) - 1);
	int i;

	for (i = 0; i < 8; i++)
		out[i] = (uint8_t)(sec >> (56 - 8 * i));
	for (i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsec >> (24 - 8 * i));
}

/* Its index must be unlisted already. */
static void
handshake_free(struct wg_peer *peer)
{
	sodium_memzero(peer->handshake, sizeof(*peer->handshake));
	free(peer->handshake);
	peer->handshake = NULL;
}

void
wg_handshake_clear(struct wg_device *dev, struct wg_peer *peer)
{
	if (peer->handshake == NULL)
		return;
	wg_index_remove(dev, &peer->handshake->entry);
	handshake_free(peer);
}

/* The peer's handshake, a zeroed one if it had none; NULL without memory. */
static struct wg_handshake *
handshake_get(struct wg_peer *peer)
{
	if (peer->handshake == NULL)
		peer->handshake = calloc(1, sizeof(*peer->handshake));
	return peer->handshake;
}

/* Lists the handshake under a new sender index, returned in wire order. */
static int
list_handshake(struct wg_device *dev, struct wg_peer *peer,
    const struct wg_handshake_fixed *fixed, uint32_t *sender_index_le)
{
	struct wg_handshake *hs = peer->handshake;
	int r;

	r = wg_index_insert(dev, &hs->entry, WG_INDEX_HANDSHAKE, peer,
	    fixed != NULL ? &fixed->local_index : NULL);
	*sender_index_le = htole32(hs->entry.index);
	return r;
}

int
wg_create_initiation(struct wg_device *dev, struct wg_peer *peer,
    struct wg_msg_initiation *msg, uint64_t now_ns, uint64_t now_real_ns,
    const struct wg_handshake_fixed *fixed)
{
	struct wg_handshake *hs;
	uint8_t key[WG_KEY_LEN], timestamp[WG_TIMESTAMP_LEN];
	uint32_t index;
	int r = -EINVAL;

	if (!dev->has_identity)
		return -ENOKEY;
	if ((hs = handshake_get(peer)) == NULL)
		return -ENOMEM;
	memset(msg, 0, sizeof(*msg));
	msg->header.type = WG_MSG_HANDSHAKE_INITIATION;
	handshake_init(hs->chaining_key, hs->hash, peer->public_key);

	/* e */
	if (!new_ephemeral(hs->ephemeral_private, msg->unencrypted_ephemeral,
	    fixed))
		goto out;
	message_ephemeral(msg->unencrypted_ephemeral, msg->unencrypted_ephemeral,
	    hs->chaining_key, hs->hash);
	/* es */
	if (!mix_dh(hs->chaining_key, key, hs->ephemeral_private,
	    peer->public_key))
		goto out;
	/* s */
	message_encrypt(msg->encrypted_static, dev->static_public, WG_KEY_LEN,
	    key, hs->hash);
	/* ss */
	if (!mix_precomputed_dh(hs->chaining_key, key, peer->static_static))
		goto out;
	/* {t} */
	if (fixed != NULL)
		memcpy(timestamp, fixed->timestamp, sizeof(timestamp));
	else
		wg_tai64n(timestamp, now_real_ns);
	message_encrypt(msg->encrypted_timestamp, timestamp, sizeof(timestamp),
	    key, hs->hash);

	if ((r = list_handshake(dev, peer, fixed, &index)) < 0)
		goto out;
	msg->sender_index = index;
	hs->state = WG_HANDSHAKE_CREATED_INITIATION;
	wg_cookie_add_macs(&peer->cookie, peer->public_key, (uint8_t *)msg,
	    sizeof(*msg), now_ns);
out:
	if (r < 0)
		wg_handshake_clear(dev, peer);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(timestamp, sizeof(timestamp));
	return r;
}

/* The replay and flood checks, once the timestamp is authenticated. */
static int
check_timestamp(const struct wg_peer *peer,
    const uint8_t timestamp[WG_TIMESTAMP_LEN], uint64_t now_ns)
{
	/* TAI64N is big-endian throughout, so bytes compare as numbers. */
	if (memcmp(timestamp, peer->latest_timestamp, WG_TIMESTAMP_LEN) <= 0)
		return -ESTALE;
	if (wg_timers_initiation_flood(peer, now_ns))
		return -EAGAIN;
	return 0;
}

int
wg_consume_initiation(struct wg_device *dev, const struct wg_msg_initiation *msg,
    uint64_t now_ns, struct wg_peer **peerp)
{
	uint8_t key[WG_KEY_LEN], chaining_key[WG_HASH_LEN], hash[WG_HASH_LEN];
	uint8_t s[WG_KEY_LEN], e[WG_KEY_LEN], t[WG_TIMESTAMP_LEN];
	struct wg_peer *peer;
	struct wg_handshake *hs;
	int r = -EBADMSG;

	*peerp = NULL;
	if (!dev->has_identity)
		return -ENOKEY;
	handshake_init(chaining_key, hash, dev->static_public);

	/* e */
	message_ephemeral(e, msg->unencrypted_ephemeral, chaining_key, hash);
	/* es */
	if (!mix_dh(chaining_key, key, dev->static_private, e))
		goto out;
	/* s */
	if (!message_decrypt(s, msg->encrypted_static,
	    sizeof(msg->encrypted_static), key, hash))
		goto out;
	if ((peer = wg_peer_lookup(dev, s)) == NULL) {
		r = -ENOENT;
		goto out;
	}
	/* ss */
	if (!mix_precomputed_dh(chaining_key, key, peer->static_static))
		goto out;
	/* {t} */
	if (!message_decrypt(t, msg->encrypted_timestamp,
	    sizeof(msg->encrypted_timestamp), key, hash))
		goto out;
	if ((r = check_timestamp(peer, t, now_ns)) < 0)
		goto out;

	/* Authenticated: only now does the peer's state change. */
	if ((hs = handshake_get(peer)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	wg_index_remove(dev, &hs->entry);
	sodium_memzero(hs, sizeof(*hs));
	memcpy(hs->remote_ephemeral, e, WG_KEY_LEN);
	memcpy(hs->hash, hash, WG_HASH_LEN);
	memcpy(hs->chaining_key, chaining_key, WG_HASH_LEN);
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = WG_HANDSHAKE_CONSUMED_INITIATION;
	memcpy(peer->latest_timestamp, t, WG_TIMESTAMP_LEN);
	peer->last_initiation_consumption = now_ns;
	*peerp = peer;
	r = 0;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(chaining_key, sizeof(chaining_key));
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(s, sizeof(s));
	sodium_memzero(e, sizeof(e));
	sodium_memzero(t, sizeof(t));
	return r;
}

int
wg_create_response(struct wg_device *dev, struct wg_peer *peer,
    struct wg_msg_response *msg, uint64_t now_ns,
    const struct wg_handshake_fixed *fixed)
{
	struct wg_handshake *hs = peer->handshake;
	uint8_t key[WG_KEY_LEN];
	uint32_t index;
	int r = -EINVAL;

	if (hs == NULL || hs->state != WG_HANDSHAKE_CONSUMED_INITIATION)
		return -EINVAL;
	memset(msg, 0, sizeof(*msg));
	msg->header.type = WG_MSG_HANDSHAKE_RESPONSE;
	msg->receiver_index = htole32(hs->remote_index);

	/* e */
	if (!new_ephemeral(hs->ephemeral_private, msg->unencrypted_ephemeral,
	    fixed))
		goto out;
	message_ephemeral(msg->unencrypted_ephemeral, msg->unencrypted_ephemeral,
	    hs->chaining_key, hs->hash);
	/* ee */
	if (!mix_dh(hs->chaining_key, NULL, hs->ephemeral_private,
	    hs->remote_ephemeral))
		goto out;
	/* se */
	if (!mix_dh(hs->chaining_key, NULL, hs->ephemeral_private,
	    peer->public_key))
		goto out;
	/* psk */
	mix_psk(hs->chaining_key, hs->hash, key, peer->preshared_key);
	/* {} */
	message_encrypt(msg->encrypted_nothing, NULL, 0, key, hs->hash);

	if ((r = list_handshake(dev, peer, fixed, &index)) < 0)
		goto out;
	msg->sender_index = index;
	hs->state = WG_HANDSHAKE_CREATED_RESPONSE;
	wg_cookie_add_macs(&peer->cookie, peer->public_key, (uint8_t *)msg,
	    sizeof(*msg), now_ns);
out:
	if (r < 0)
		wg_handshake_clear(dev, peer);
	sodium_memzero(key, sizeof(key));
	return r;
}

int
wg_consume_response(struct wg_device *dev, const struct wg_msg_response *msg,
    struct wg_peer **peerp)
{
	uint8_t key[WG_KEY_LEN], chaining_key[WG_HASH_LEN], hash[WG_HASH_LEN];
	uint8_t e[WG_KEY_LEN], empty[1];
	struct wg_index_entry *entry;
	struct wg_handshake *hs;
	struct wg_peer *peer;
	int r = -EBADMSG;

	*peerp = NULL;
	entry = wg_index_lookup(dev, le32toh(msg->receiver_index),
	    WG_INDEX_HANDSHAKE);
	if (entry == NULL)
		return -ENOENT;
	peer = entry->peer;
	hs = peer->handshake;
	if (hs == NULL || hs->state != WG_HANDSHAKE_CREATED_INITIATION)
		return -EINVAL;
	memcpy(chaining_key, hs->chaining_key, WG_HASH_LEN);
	memcpy(hash, hs->hash, WG_HASH_LEN);

	/* e */
	message_ephemeral(e, msg->unencrypted_ephemeral, chaining_key, hash);
	/* ee */
	if (!mix_dh(chaining_key, NULL, hs->ephemeral_private, e))
		goto out;
	/* se */
	if (!mix_dh(chaining_key, NULL, dev->static_private, e))
		goto out;
	/* psk */
	mix_psk(chaining_key, hash, key, peer->preshared_key);
	/* {} */
	if (!message_decrypt(empty, msg->encrypted_nothing,
	    sizeof(msg->encrypted_nothing), key, hash))
		goto out;

	/* Authenticated: only now does the peer's state change. */
	memcpy(hs->remote_ephemeral, e, WG_KEY_LEN);
	memcpy(hs->hash, hash, WG_HASH_LEN);
	memcpy(hs->chaining_key, chaining_key, WG_HASH_LEN);
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = WG_HANDSHAKE_CONSUMED_RESPONSE;
	*peerp = peer;
	r = 0;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(chaining_key, sizeof(chaining_key));
	sodium_memzero(hash, sizeof(hash));
	sodium_memzero(e, sizeof(e));
	return r;
}

/*
 * (T_send, T_recv) = KDF2(ck, empty), the initiator's order; the responder
 * swaps them.  The keypair inherits the handshake's index, which the peer
 * already knows as our sender index.
 */
int
wg_begin_session(struct wg_device *dev, struct wg_peer *peer, uint64_t now_ns)
{
	struct wg_handshake *hs = peer->handshake;
	struct wg_keypair *kp = NULL;
	uint8_t first[WG_KEY_LEN], second[WG_KEY_LEN];
	bool initiator;
	int r = -EINVAL;

	if (hs == NULL || (hs->state != WG_HANDSHAKE_CREATED_RESPONSE &&
	    hs->state != WG_HANDSHAKE_CONSUMED_RESPONSE))
		return -EINVAL;
	initiator = hs->state == WG_HANDSHAKE_CONSUMED_RESPONSE;
	kdf_n(first, second, NULL, 2, hs->chaining_key, NULL, 0);
	r = wg_keypair_create(&kp, initiator ? first : second,
	    initiator ? second : first, initiator, hs->remote_index, now_ns);
	if (r < 0)
		goto out;
	wg_index_replace(dev, &hs->entry, &kp->entry, WG_INDEX_KEYPAIR);
	handshake_free(peer);
	wg_keypairs_add(dev, &peer->keypairs, kp);
out:
	if (r < 0)
		wg_handshake_clear(dev, peer);
	sodium_memzero(first, sizeof(first));
	sodium_memzero(second, sizeof(second));
	return r;
}
