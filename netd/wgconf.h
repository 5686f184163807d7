/*
 * wg-quick(8) configuration files: wg(8)'s setconf format plus wg-quick's
 * interface keys.  netd parses the file privd hands it; the keys never
 * leave netd.
 *
 *   [Interface]  PrivateKey (required), ListenPort, Address*, MTU, DNS*,
 *                FwMark, Table, SaveConfig = false
 *   [Peer]...    PublicKey (required, unique), PresharedKey, Endpoint,
 *                AllowedIPs*, PersistentKeepalive
 *
 * (* may repeat; values are comma-separated lists.)  Keys and section names
 * are case-insensitive, '#' starts a comment, CRLF is accepted.  Stricter
 * than wg-quick on purpose: unknown keys, a second [Interface], a scalar key
 * given twice, Endpoint host names (netd cannot resolve in its sandbox) and
 * the hooks PreUp/PostUp/PreDown/PostDown (privmesh never runs commands)
 * are errors.
 */
#ifndef PM_WGCONF_H
#define PM_WGCONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define WG_CONFIG_KEY_LEN		32
#define WG_CONFIG_MAX_PEERS		1024
#define WG_CONFIG_MAX_ALLOWED_IPS	1024	/* per peer */
#define WG_CONFIG_MAX_ADDRESSES		64
#define WG_CONFIG_MAX_DNS		16	/* servers; as many domains */
#define WG_CONFIG_DOMAIN_SIZE		254	/* 253 characters + NUL */
#define WG_CONFIG_IFNAME_SIZE		16	/* IFNAMSIZ */
#define WG_CONFIG_MTU_MIN		576
#define WG_CONFIG_MTU_MAX		65535

struct wg_config_ip {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network order; 4 bytes used for v4 */
};

/* As written: Address keeps its host bits (the interface's own address);
 * AllowedIPs host bits are dropped by the routing table on insert. */
struct wg_config_prefix {
	int		family;
	uint8_t		addr[16];
	uint8_t		cidr;		/* default 32 or 128 */
};

enum wg_config_table {
	WG_CONFIG_TABLE_AUTO,		/* unset or "auto" */
	WG_CONFIG_TABLE_OFF,		/* "off": add no routes */
	WG_CONFIG_TABLE_ID,		/* table_id holds the number */
};

struct wg_config_peer {
	uint8_t		public_key[WG_CONFIG_KEY_LEN];
	uint8_t		preshared_key[WG_CONFIG_KEY_LEN];
	bool		has_preshared_key;
	bool		has_endpoint;
	struct sockaddr_storage endpoint;
	socklen_t	endpoint_len;
	struct wg_config_prefix *allowed_ips;
	size_t		n_allowed_ips;
	uint16_t	persistent_keepalive;	/* seconds; 0 = off */
	unsigned	line;		/* of its [Peer], for messages */
};

struct wg_config {
	uint8_t		private_key[WG_CONFIG_KEY_LEN];
	bool		has_private_key;	/* always true after parsing */
	bool		has_listen_port;
	uint16_t	listen_port;		/* 0: pick one */
	uint32_t	mtu;			/* 0: unset */
	bool		has_fwmark;
	uint32_t	fwmark;			/* 0: off */
	enum wg_config_table table;
	uint32_t	table_id;
	struct wg_config_prefix addresses[WG_CONFIG_MAX_ADDRESSES];
	size_t		n_addresses;
	struct wg_config_ip dns[WG_CONFIG_MAX_DNS];
	size_t		n_dns;
	char		search[WG_CONFIG_MAX_DNS][WG_CONFIG_DOMAIN_SIZE];
	size_t		n_search;
	struct wg_config_peer *peers;
	size_t		n_peers;
};

/*
 * Parses len bytes of text (no terminating NUL needed; a NUL byte inside is
 * an error).  On success *out is a new config for wg_config_free().  On
 * failure returns -EINVAL (with err holding "line N: Key: what", or a
 * file-level message) or -ENOMEM; nothing is allocated and err never
 * quotes key material.
 */
int	wg_config_parse(const char *text, size_t len, struct wg_config **out,
	    char *err, size_t errlen);

/* Wipes the private key and preshared keys, then frees.  NULL is a no-op. */
void	wg_config_free(struct wg_config *);

/*
 * The interface name wg-quick derives from a config path: the file name
 * without ".conf", which must match ^[a-zA-Z0-9_=+.-]{1,15}$ (and not be
 * "." or "..", which the kernel refuses).  0 or -EINVAL.
 */
int	wg_config_interface_name(const char *path,
	    char out[WG_CONFIG_IFNAME_SIZE]);

#endif
