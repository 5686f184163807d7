/*
 * Cryptokey routing (WireGuard whitepaper section 2): a table from IP
 * prefixes to peers.  Sending looks up the destination to pick the peer;
 * receiving looks up the decrypted packet's source and drops it unless the
 * answer is the peer that sent it.
 *
 * One path-compressed binary trie per family.  Every node stores its whole
 * prefix, so a lookup walks at most one node per distinct prefix length on
 * the path (at most 33 or 129) and allocates nothing.  Internal "glue"
 * nodes (peer == NULL) exist only where two prefixes diverge and always
 * have two children.
 *
 * Peers are opaque pointers; the table never dereferences them.  Not
 * thread-safe: netd's event loop is its only user.
 */
#ifndef PM_WG_ALLOWEDIPS_H
#define PM_WG_ALLOWEDIPS_H

#include <stddef.h>
#include <stdint.h>

struct allowedips_node;

struct allowedips {
	struct allowedips_node	*root4;
	struct allowedips_node	*root6;
};

#define ALLOWEDIPS_INIT		{ NULL, NULL }

/*
 * Called once per prefix of the walked peer; addr is the masked prefix (4
 * or 16 bytes by family).  A non-zero return stops the walk and becomes its
 * result.  The callback must not change the table.
 */
typedef int (*allowedips_walk_cb)(int family, const uint8_t *addr,
	    uint8_t cidr, void *arg);

void	allowedips_init(struct allowedips *);
/* Frees every node; the table is empty and reusable afterwards. */
void	allowedips_clear(struct allowedips *);

/*
 * Maps addr/cidr to peer, masking host bits past cidr as the kernel does.
 * An existing entry for the same prefix changes owner.  family is AF_INET
 * or AF_INET6 and addr holds 4 or 16 bytes in network order.  0, -EINVAL
 * (cidr too long, peer NULL), -EAFNOSUPPORT or -ENOMEM.
 */
int	allowedips_insert(struct allowedips *, int family, const void *addr,
	    uint8_t cidr, void *peer);

/* Removes exactly addr/cidr (host bits ignored).  0, -ENOENT, -EINVAL or
 * -EAFNOSUPPORT. */
int	allowedips_remove(struct allowedips *, int family, const void *addr,
	    uint8_t cidr);

/* Removes every prefix owned by peer; returns how many.  O(table size). */
size_t	allowedips_remove_by_peer(struct allowedips *, const void *peer);

/* Longest-prefix match of a full address (4 or 16 bytes); NULL if none.
 * The packet path: no allocation, O(prefix length). */
void	*allowedips_lookup(const struct allowedips *, int family,
	    const void *addr);

/* Calls cb for each prefix owned by peer, IPv4 first, each family in
 * address order.  0, or the first non-zero cb result.  O(table size). */
int	allowedips_walk_by_peer(const struct allowedips *, const void *peer,
	    allowedips_walk_cb cb, void *arg);

#endif
