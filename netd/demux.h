/*
 * What a datagram on the one magicsock-style UDP socket is, in the order
 * Tailscale's packetLooksLike tests: STUN binding, disco, WireGuard.
 * Unlike magicsock, which hands anything else to WireGuard, a packet that
 * is not a well-formed WireGuard message (type 1-4, three zero bytes, the
 * type's exact or minimum length) is PKT_UNKNOWN so the caller can count
 * and drop it.  Geneve-encapsulated peer-relay traffic is not supported
 * and is PKT_UNKNOWN too.
 */
#ifndef PM_NETD_DEMUX_H
#define PM_NETD_DEMUX_H

#include <stddef.h>
#include <stdint.h>

enum pkt_kind {
	PKT_UNKNOWN = 0,
	PKT_STUN,
	PKT_DISCO,
	PKT_WIREGUARD,
};

enum pkt_kind demux_classify(const uint8_t *, size_t);
const char *demux_kind_name(enum pkt_kind);

#endif
