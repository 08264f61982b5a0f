/* The subcommands of the `rampart` program; each lives in src/cmd_<name>.c. */
#ifndef RAMPART_CMD_H
#define RAMPART_CMD_H

/* Exit codes of every subcommand (STYLE.md): */
#define RP_EXIT_OK 0       /* done, nothing found */
#define RP_EXIT_FINDINGS 1 /* done, something was found or refused */
#define RP_EXIT_USAGE 2    /* bad usage or input */

int rp_cmd_url(int argc, char **argv);
int rp_cmd_url_train(int argc, char **argv);
int rp_cmd_serve(int argc, char **argv);
int rp_cmd_demo_model(int argc, char **argv);

#endif
