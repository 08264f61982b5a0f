/* The subcommands of the `rampart` program; each lives in src/cmd_<name>.c. */
#ifndef RAMPART_CMD_H
#define RAMPART_CMD_H

/* The version of rampart, as `rampart --version` and reports (SARIF's tool.driver) give it. */
#define RAMPART_VERSION "0.1.0"

/* Exit codes of every subcommand (STYLE.md): */
#define RP_EXIT_OK 0       /* done, nothing found */
#define RP_EXIT_FINDINGS 1 /* done, something was found or refused */
#define RP_EXIT_USAGE 2    /* bad usage or input */

int rp_cmd_url(int argc, char **argv);
int rp_cmd_url_train(int argc, char **argv);
int rp_cmd_serve(int argc, char **argv);
int rp_cmd_demo_model(int argc, char **argv);
int rp_cmd_guard(int argc, char **argv);
int rp_cmd_guard_eval(int argc, char **argv);
int rp_cmd_guard_train(int argc, char **argv);
int rp_cmd_version_compare(int argc, char **argv);
int rp_cmd_cvss(int argc, char **argv);
int rp_cmd_vulns(int argc, char **argv);

struct rp_config;
struct rp_guard_options;
struct rp_str;
/* The guard's options from the guard: section of a configuration (pointers into c). */
void rp_guard_options_from_config(const struct rp_config *c, struct rp_guard_options *o);
/* Whether a labelled text belongs to the 20% evaluation split that training never sees. */
_Bool rp_guard_held_out(struct rp_str text);

#endif
