/*
 * Path-compressed binary trie for cryptokey routing.  Invariants:
 *
 *   - a node's bits are its full prefix with host bits zero, so any node
 *     can be checked against a key on its own;
 *   - a child's prefix extends its parent's, and child[b] holds the
 *     prefixes whose bit number parent->cidr is b;
 *   - a glue node (peer == NULL) has exactly two children.
 *
 * Removal restores the last invariant by splicing out glue, so the trie
 * never holds more than 2n - 1 nodes for n prefixes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "allowedips.h"

struct allowedips_node {
	struct allowedips_node	*child[2];
	struct allowedips_node	*parent;	/* for removal and walks */
	void			*peer;		/* NULL: glue */
	uint8_t			 cidr;
	uint8_t			 bits[];	/* 4 or 16 bytes */
};

/* Address length in bits, or 0 for an unknown family. */
static unsigned
family_bits(int family)
{
	return family == AF_INET ? 32 : family == AF_INET6 ? 128 : 0;
}

static struct allowedips_node **
root_of(struct allowedips *t, int family)
{
	return family == AF_INET ? &t->root4 : &t->root6;
}

static unsigned
bit_at(const uint8_t *a, unsigned i)
{
	return (a[i / 8] >> (7 - i % 8)) & 1;
}

/* Number of leading bits a and b share, at most max. */
static unsigned
common_bits(const uint8_t *a, const uint8_t *b, unsigned max)
{
	for (unsigned i = 0; i * 8 < max; i++) {
		unsigned x = a[i] ^ b[i];

		if (x != 0) {
			unsigned n = i * 8 + (unsigned)__builtin_clz(x) - 24;
			return n < max ? n : max;
		}
	}
	return max;
}

/* Whether key lies inside node's prefix; the lookup's inner test. */
static bool
prefix_matches(const struct allowedips_node *n, const uint8_t *key)
{
	unsigned whole = n->cidr / 8, rest = n->cidr % 8;

	if (memcmp(n->bits, key, whole) != 0)
		return false;
	return rest == 0 ||
	    ((n->bits[whole] ^ key[whole]) & (uint8_t)(0xff00u >> rest)) == 0;
}

static void
mask_copy(uint8_t *out, const uint8_t *in, unsigned cidr, size_t len)
{
	memcpy(out, in, len);
	for (size_t i = 0; i < len; i++) {
		if (cidr >= 8 * (i + 1))
			continue;
		out[i] &= cidr > 8 * i ? (uint8_t)(0xff00u >> (cidr - 8 * i)) :
		    0;
	}
}

static struct allowedips_node *
node_new(const uint8_t *key, unsigned cidr, size_t len, void *peer)
{
	struct allowedips_node *n = calloc(1, sizeof(*n) + len);

	if (n == NULL)
		return NULL;
	n->peer = peer;
	n->cidr = (uint8_t)cidr;
	mask_copy(n->bits, key, cidr, len);
	return n;
}

static void
set_child(struct allowedips_node *parent, struct allowedips_node *child,
    unsigned bit)
{
	parent->child[bit] = child;
	child->parent = parent;
}

/* Puts n where the walk stopped: in *slot, under parent (NULL: root). */
static void
link_at(struct allowedips_node **slot, struct allowedips_node *parent,
    struct allowedips_node *n)
{
	*slot = n;
	n->parent = parent;
}

static int
insert(struct allowedips_node **root, const uint8_t *key, unsigned cidr,
    size_t len, void *peer)
{
	struct allowedips_node **slot = root, *parent = NULL, *node, *leaf,
	    *glue;
	unsigned c = 0;

	while ((node = *slot) != NULL) {
		c = common_bits(node->bits, key,
		    node->cidr < cidr ? node->cidr : cidr);
		if (c < node->cidr)
			break;
		if (node->cidr == cidr) {
			node->peer = peer;
			return 0;
		}
		parent = node;
		slot = &node->child[bit_at(key, node->cidr)];
	}
	if ((leaf = node_new(key, cidr, len, peer)) == NULL)
		return -ENOMEM;
	if (node != NULL && c == cidr) {
		/* The new prefix contains node: it goes in between. */
		set_child(leaf, node, bit_at(node->bits, cidr));
	} else if (node != NULL) {
		/* They diverge at bit c: a glue node holds both. */
		if ((glue = node_new(key, c, len, NULL)) == NULL) {
			free(leaf);
			return -ENOMEM;
		}
		set_child(glue, leaf, bit_at(key, c));
		set_child(glue, node, bit_at(node->bits, c));
		leaf = glue;
	}
	link_at(slot, parent, leaf);
	return 0;
}

int
allowedips_insert(struct allowedips *t, int family, const void *addr,
    uint8_t cidr, void *peer)
{
	unsigned bits = family_bits(family);
	uint8_t key[16];

	if (bits == 0)
		return -EAFNOSUPPORT;
	if (cidr > bits || peer == NULL)
		return -EINVAL;
	mask_copy(key, addr, cidr, bits / 8);
	return insert(root_of(t, family), key, cidr, bits / 8, peer);
}

/*
 * Splices n out if it is glue with fewer than two children.  Returns n's
 * parent when n went away (the parent may have lost a child), else NULL.
 */
static struct allowedips_node *
drop_if_redundant(struct allowedips_node **root, struct allowedips_node *n)
{
	struct allowedips_node *parent = n->parent, *child, **slot;

	if (n->peer != NULL || (n->child[0] != NULL && n->child[1] != NULL))
		return NULL;
	child = n->child[0] != NULL ? n->child[0] : n->child[1];
	slot = parent == NULL ? root : &parent->child[parent->child[1] == n];
	*slot = child;
	if (child != NULL)
		child->parent = parent;
	free(n);
	return parent;
}

int
allowedips_remove(struct allowedips *t, int family, const void *addr,
    uint8_t cidr)
{
	unsigned bits = family_bits(family);
	struct allowedips_node **root, *n;
	uint8_t key[16];

	if (bits == 0)
		return -EAFNOSUPPORT;
	if (cidr > bits)
		return -EINVAL;
	mask_copy(key, addr, cidr, bits / 8);
	root = root_of(t, family);
	n = *root;
	while (n != NULL && n->cidr < cidr && prefix_matches(n, key))
		n = n->child[bit_at(key, n->cidr)];
	if (n == NULL || n->cidr != cidr || n->peer == NULL ||
	    !prefix_matches(n, key))
		return -ENOENT;
	n->peer = NULL;
	while ((n = drop_if_redundant(root, n)) != NULL)
		;
	return 0;
}

/*
 * Post-order walk by parent pointers, so removal and freeing need neither
 * recursion nor a stack.  next() must be taken before n is changed.
 */
static struct allowedips_node *
postorder_first(struct allowedips_node *n)
{
	while (n != NULL && (n->child[0] != NULL || n->child[1] != NULL))
		n = n->child[0] != NULL ? n->child[0] : n->child[1];
	return n;
}

static struct allowedips_node *
postorder_next(struct allowedips_node *n)
{
	struct allowedips_node *p = n->parent;

	if (p != NULL && p->child[0] == n && p->child[1] != NULL)
		return postorder_first(p->child[1]);
	return p;
}

/* Children come before parents, so glue left with one child is caught. */
static size_t
remove_by_peer(struct allowedips_node **root, const void *peer)
{
	struct allowedips_node *n, *next;
	size_t removed = 0;

	for (n = postorder_first(*root); n != NULL; n = next) {
		next = postorder_next(n);
		if (n->peer == peer) {
			n->peer = NULL;
			removed++;
		}
		(void)drop_if_redundant(root, n);
	}
	return removed;
}

size_t
allowedips_remove_by_peer(struct allowedips *t, const void *peer)
{
	if (peer == NULL)
		return 0;
	return remove_by_peer(&t->root4, peer) + remove_by_peer(&t->root6, peer);
}

static void
free_all(struct allowedips_node **root)
{
	struct allowedips_node *n, *next;

	for (n = postorder_first(*root); n != NULL; n = next) {
		next = postorder_next(n);
		free(n);
	}
	*root = NULL;
}

void
allowedips_init(struct allowedips *t)
{
	t->root4 = NULL;
	t->root6 = NULL;
}

void
allowedips_clear(struct allowedips *t)
{
	free_all(&t->root4);
	free_all(&t->root6);
}

void *
allowedips_lookup(const struct allowedips *t, int family, const void *addr)
{
	const struct allowedips_node *n, *best = NULL;
	unsigned bits = family_bits(family);

	if (bits == 0)
		return NULL;
	n = family == AF_INET ? t->root4 : t->root6;
	while (n != NULL && prefix_matches(n, addr)) {
		if (n->peer != NULL)
			best = n;
		if (n->cidr == bits)
			break;
		n = n->child[bit_at(addr, n->cidr)];
	}
	return best != NULL ? best->peer : NULL;
}

/* Pre-order: a prefix before the longer ones inside it, 0 before 1. */
static const struct allowedips_node *
preorder_next(const struct allowedips_node *n)
{
	if (n->child[0] != NULL)
		return n->child[0];
	if (n->child[1] != NULL)
		return n->child[1];
	for (; n->parent != NULL; n = n->parent) {
		if (n->parent->child[0] == n && n->parent->child[1] != NULL)
			return n->parent->child[1];
	}
	return NULL;
}

static int
walk(const struct allowedips_node *root, int family, const void *peer,
    allowedips_walk_cb cb, void *arg)
{
	int r;

	for (const struct allowedips_node *n = root; n != NULL;
	    n = preorder_next(n)) {
		if (n->peer == peer && (r = cb(family, n->bits, n->cidr, arg)))
			return r;
	}
	return 0;
}

int
allowedips_walk_by_peer(const struct allowedips *t, const void *peer,
    allowedips_walk_cb cb, void *arg)
{
	int r;

	if (peer == NULL)
		return 0;
	if ((r = walk(t->root4, AF_INET, peer, cb, arg)) != 0)
		return r;
	return walk(t->root6, AF_INET6, peer, cb, arg);
}
