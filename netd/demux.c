/* Classifying datagrams on the shared UDP socket. */
#include "demux.h"
#include "disco.h"
#include "messages.h"
#include "stun.h"

enum pkt_kind
demux_classify(const uint8_t *p, size_t len)
{
	if (stun_is_binding(p, len))
		return PKT_STUN;
	if (disco_looks_like(p, len))
		return PKT_DISCO;
	/* The WireGuard core's own check: type, reserved zeros, length. */
	if (wg_message_type(p, len) != WG_MSG_INVALID)
		return PKT_WIREGUARD;
	return PKT_UNKNOWN;
}

const char *
demux_kind_name(enum pkt_kind k)
{
	switch (k) {
	case PKT_STUN:
		return "stun";
	case PKT_DISCO:
		return "disco";
	case PKT_WIREGUARD:
		return "wireguard";
	case PKT_UNKNOWN:
		break;
	}
	return "unknown";
}
