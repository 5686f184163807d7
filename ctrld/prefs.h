/*
 * User preferences (what `privmesh up` sets), persisted as prefs.json in
 * ctrld's state directory, and the machine key (machine.key).  Pure
 * parsing plus the two files; tailscale's ipn.Prefs names in comments.
 */
#ifndef PM_CTRLD_PREFS_H
#define PM_CTRLD_PREFS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define PREFS_FILE	"prefs.json"
#define MACHINE_KEY_FILE "machine.key"
#define PREFS_MAX_ROUTES 256
#define PREFS_MAX_TAGS	 64

struct prefs {
	char	 login_server[256];	/* ControlURL */
	char	 hostname[64];		/* Hostname ("" = the system's) */
	bool	 want_running;		/* WantRunning */
	bool	 logged_out;		/* LoggedOut */
	bool	 accept_routes;		/* RouteAll */
	bool	 accept_dns;		/* CorpDNS */
	char	 exit_node[256];	/* ExitNodeIP or name */
	bool	 exit_node_allow_lan;	/* ExitNodeAllowLANAccess */
	bool	 advertise_exit_node;	/* 0.0.0.0/0 + ::/0 in AdvertiseRoutes */
	json_t	*advertise_routes;	/* AdvertiseRoutes: ["prefix", ...] */
	json_t	*advertise_tags;	/* AdvertiseTags: ["tag:x", ...] */
};

void	prefs_default(struct prefs *);
void	prefs_free(struct prefs *);

/* Fills `p` from a JSON object (the keys of prefs_to_json); fields not
 * present keep their value.  0, or -1 with `err` set. */
int	prefs_from_json(struct prefs *, json_t *obj, char *err, size_t errlen);
json_t *prefs_to_json(const struct prefs *);

/* The files, relative to ctrld's root (its state directory). */
int	prefs_load(struct prefs *, char *err, size_t errlen);
int	prefs_save(const struct prefs *);
/* Loads the machine key, or creates and saves one.  0 or -errno. */
int	machine_key_load(uint8_t priv[32], uint8_t pub[32]);

#endif
