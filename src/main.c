/* rampart: the command-line entry point, dispatching to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"url", cmd_url, "read web addresses as a browser does and explain who controls them"},
    {"url-train", cmd_url_train, "train the learned phishing score for `rampart url`"},
    {"guard", cmd_guard, "inspect prompts or answers with the guardrails"},
    {"guard-eval", cmd_guard_eval, "rates of the guardrails on labelled texts"},
    {"guard-train", cmd_guard_train, "train the guardrails' learned classifiers"},
    {"serve", cmd_serve, "run the gateway in front of an AI model API"},
    {"vulns", cmd_vulns, "find the known vulnerabilities of what you run, and the fix for each"},
    {"version-compare", cmd_version_compare, "compare versions as an ecosystem orders them"},
    {"cvss", cmd_cvss, "base scores and ratings of CVSS 3.0, 3.1 and 4.0 vectors"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: rampart <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-16s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'rampart <command> --help' describes a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CMD_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("rampart %s\n", RAMPART_VERSION);
        return CMD_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    /* The demo model was a subcommand; it is now a test tool of its own, built beside rampart. */
    if (strcmp(argv[1], "demo-model") == 0) {
        fprintf(stderr, "rampart: the demo model is now its own program, rampart-demo-model\n");
        return CMD_EXIT_USAGE;
    }
    fprintf(stderr, "rampart: '%s' is not a rampart command\n", argv[1]);
    usage(stderr);
    return CMD_EXIT_USAGE;
}
