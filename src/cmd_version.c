/* `rampart version-compare`: two versions compared as an ecosystem orders them, or many pairs
 * from stdin, for people checking one range bound and for bulk tests against each ecosystem's
 * own tools. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "rampart/vuln.h"

/* Longest stdin line compared; a longer one is answered "invalid" and memory stays bounded. */
#define LINE_MAX_BYTES (1u << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: rampart version-compare --ecosystem NAME A B\n"
               "       rampart version-compare --ecosystem NAME < PAIRS\n"
               "\n"
               "Compares versions A and B as the ecosystem orders them and prints '<', '=' or\n"
               "'>'. Without A and B, reads one pair a line from standard input, \"A<TAB>B\" (or\n"
               "\"A B\" on a line without a tab), and prints one result a line: '<', '=', '>',\n"
               "or 'invalid' when either is not a version of the ecosystem.\n"
               "\n"
               "  -e, --ecosystem NAME  as OSV writes it: PyPI, npm, crates.io, Go, Debian\n"
               "                        (also Debian:12 and the like), OpenWrt, or 'other'\n"
               "                        for the generic order (digit runs as numbers, the\n"
               "                        rest as text)\n"
               "  -h, --help            this text\n"
               "\n"
               "Exit status: 0 when compared, 2 on usage errors, unreadable input, or when A or B\n"
               "is not a valid version.\n");
}

static const char *result_word(int cmp)
{
    return cmp < 0 ? "<" : cmp > 0 ? ">" : "=";
}

/* Splits a line into its two versions: at the first tab, else at the first run of spaces. */
static bool split_pair(struct rp_str line, struct rp_str *a, struct rp_str *b)
{
    const char *sep = line.len ? memchr(line.ptr, '\t', line.len) : NULL;
    size_t skip = 1;
    if (!sep) {
        sep = line.len ? memchr(line.ptr, ' ', line.len) : NULL;
        if (!sep)
            return false;
        while (sep + skip < line.ptr + line.len && sep[skip] == ' ')
            skip++;
    }
    *a = (struct rp_str){line.ptr, (size_t)(sep - line.ptr)};
    *b = (struct rp_str){sep + skip, line.len - a->len - skip};
    return true;
}

/* One result a line of stdin. NUL bytes are kept: they are part of the version. */
static int each_stdin_pair(enum rp_eco eco)
{
    struct rp_buf line;
    rp_buf_init(&line, LINE_MAX_BYTES);
    int result = RP_OK, c = 0;
    while (!result && c != EOF) {
        bool too_long = false;
        rp_buf_reset(&line);
        while ((c = getc_unlocked(stdin)) != EOF && c != '\n')
            if (!too_long && rp_buf_addc(&line, (char)c) == RP_ETOOBIG)
                too_long = true;
        if (c == EOF && line.len == 0 && !too_long)
            break;
        struct rp_str l = rp_buf_str(&line), a, b;
        if (l.len && l.ptr[l.len - 1] == '\r')
            l.len--;
        int cmp;
        const char *word = "invalid";
        if (!too_long && split_pair(l, &a, &b) && rp_version_cmp(eco, a, b, &cmp) == RP_OK)
            word = result_word(cmp);
        if (fputs(word, stdout) == EOF || putchar('\n') == EOF)
            result = RP_EIO;
    }
    if (!result && ferror(stdin)) {
        fprintf(stderr, "rampart version-compare: error reading standard input\n");
        result = RP_EIO;
    }
    rp_buf_release(&line);
    return result;
}

/* The ecosystem named on the command line: an OSV name, or "other". */
static int parse_ecosystem(const char *name, enum rp_eco *eco)
{
    struct rp_str s = rp_str_from_cstr(name);
    *eco = rp_eco_from_osv(s);
    if (*eco != RP_ECO_OTHER || strcmp(name, "other") == 0)
        return RP_OK;
    fprintf(stderr, "rampart version-compare: unknown ecosystem '%s'", name);
    for (int e = RP_ECO_OTHER + 1; e < RP_ECO_COUNT; e++)
        if (strcasecmp(name, rp_eco_name((enum rp_eco)e)) == 0)
            fprintf(stderr, " (did you mean '%s'?)", rp_eco_name((enum rp_eco)e));
    fprintf(stderr, "; one of PyPI, npm, crates.io, Go, Debian, other\n");
    return RP_EINVAL;
}

int cmd_version_compare(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"ecosystem", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *eco_name = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e': eco_name = optarg; break;
        case 'h': usage(stdout); return CMD_EXIT_OK;
        default: usage(stderr); return CMD_EXIT_USAGE;
        }
    }
    if (!eco_name) {
        fprintf(stderr, "rampart version-compare: --ecosystem is required\n");
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    enum rp_eco eco;
    if (parse_ecosystem(eco_name, &eco))
        return CMD_EXIT_USAGE;
    int operands = argc - optind;
    if (operands != 0 && operands != 2) {
        fprintf(stderr, "rampart version-compare: want two versions, or none to read pairs "
                        "from standard input\n");
        usage(stderr);
        return CMD_EXIT_USAGE;
    }
    if (operands == 0) {
        int result = each_stdin_pair(eco);
        if (fflush(stdout) != 0 && !result) {
            fprintf(stderr, "rampart version-compare: error writing standard output\n");
            result = RP_EIO;
        }
        return result ? CMD_EXIT_USAGE : CMD_EXIT_OK;
    }
    struct rp_str a = rp_str_from_cstr(argv[optind]), b = rp_str_from_cstr(argv[optind + 1]);
    for (int i = 0; i < 2; i++) {
        if (!rp_version_valid(eco, i ? b : a)) {
            fprintf(stderr, "rampart version-compare: '%s' is not a valid %s version\n",
                    argv[optind + i], rp_eco_name(eco));
            return CMD_EXIT_USAGE;
        }
    }
    int cmp;
    if (rp_version_cmp(eco, a, b, &cmp) != RP_OK) /* never: both are valid */
        return CMD_EXIT_USAGE;
    printf("%s\n", result_word(cmp));
    return fflush(stdout) == 0 ? CMD_EXIT_OK : CMD_EXIT_USAGE;
}
