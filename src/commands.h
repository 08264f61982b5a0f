/* The subcommands of the `rampart` program; each lives in src/cmd_<name>.c. */
#ifndef RAMPART_CMD_H
#define RAMPART_CMD_H

/* The version of rampart, as `rampart --version` and reports (SARIF's tool.driver) give it. */
#define RAMPART_VERSION "0.1.0"

/* Exit codes of every subcommand (STYLE.md): */
#define CMD_EXIT_OK 0       /* done, nothing found */
#define CMD_EXIT_FINDINGS 1 /* done, something was found or refused */
#define CMD_EXIT_USAGE 2    /* bad usage or input */

int cmd_url(int argc, char **argv);
int cmd_url_train(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_guard(int argc, char **argv);
int cmd_guard_eval(int argc, char **argv);
int cmd_guard_train(int argc, char **argv);
int cmd_version_compare(int argc, char **argv);
int cmd_cvss(int argc, char **argv);
int cmd_vulns(int argc, char **argv);

#endif
