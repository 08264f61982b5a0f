/* bench_vulns: the costs of `rampart vulns` in process, one core: building the index of an OSV
 * database, scanning an inventory with it (reading the file, matching, remediation), and, as the
 * floor to compare with, merely decompressing every record of the database's zips with the same
 * libzip. Each figure is the best of several runs. Run by `make bench-vulns` (bench/bench-vulns
 * writes the inventory). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>

#include "rampart/vuln.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Decompresses every entry of <db>/<Ecosystem>/all.zip; returns the bytes read, or 0. */
static size_t decompress_all(const char *db)
{
    DIR *d = opendir(db);
    if (!d)
        return 0;
    size_t total = 0;
    char *buf = NULL;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s/all.zip", db, e->d_name);
        zip_t *z = zip_open(path, ZIP_RDONLY, NULL);
        if (!z)
            continue;
        zip_int64_t n = zip_get_num_entries(z, 0);
        for (zip_int64_t i = 0; i < n; i++) {
            zip_stat_t st;
            if (zip_stat_index(z, (zip_uint64_t)i, 0, &st))
                continue;
            if (st.size + 1 > cap) {
                cap = st.size + 1;
                buf = realloc(buf, cap);
            }
            zip_file_t *f = zip_fopen_index(z, (zip_uint64_t)i, 0);
            zip_int64_t got = f && buf ? zip_fread(f, buf, st.size) : -1;
            if (f)
                zip_fclose(f);
            if (got > 0)
                total += (size_t)got;
        }
        zip_discard(z);
    }
    closedir(d);
    free(buf);
    return total;
}

static int scan(const char *dbpath, const char *index, const char *inventory, bool rebuild,
                size_t *npkgs, size_t *naffected, size_t *nadv)
{
    struct rp_error err = {{0}};
    struct rp_vuln_db_options opt = {.index = index, .rebuild = rebuild};
    struct rp_vuln_db *db = NULL;
    if (rp_vuln_db_open(dbpath, &opt, &db, &err)) {
        fprintf(stderr, "bench_vulns: %s\n", err.msg);
        return 1;
    }
    char *text = NULL;
    size_t len = 0;
    struct rp_inventory inv;
    rp_inventory_init(&inv);
    struct rp_vuln_report rep = {0};
    int status = 1;
    if (rp_file_read(inventory, 256u << 20, &text, &len, &err) ||
        rp_inventory_parse(&inv, rp_inventory_detect(inventory, (struct rp_str){text, len}),
                           inventory, (struct rp_str){text, len}, &err) ||
        rp_vuln_match(db, &inv, &rep, &err)) {
        fprintf(stderr, "bench_vulns: %s\n", err.msg);
    } else {
        *npkgs = inv.n;
        *naffected = rep.n;
        *nadv = rep.advisories;
        status = 0;
    }
    rp_vuln_report_release(&rep);
    rp_inventory_release(&inv);
    free(text);
    rp_vuln_db_close(db);
    return status;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench_vulns OSV_DIR INDEX_FILE INVENTORY\n");
        return 2;
    }
    const char *dbpath = argv[1], *index = argv[2], *inventory = argv[3];
    size_t npkgs = 0, naff = 0, nadv = 0;
    double build = 1e9, scanned = 1e9, unzip = 1e9;
    for (int i = 0; i < 3; i++) {
        double t = now();
        if (scan(dbpath, index, inventory, true, &npkgs, &naff, &nadv))
            return 1;
        double dt = now() - t;
        build = dt < build ? dt : build;
    }
    for (int i = 0; i < 7; i++) {
        double t = now();
        if (scan(dbpath, index, inventory, false, &npkgs, &naff, &nadv))
            return 1;
        double dt = now() - t;
        scanned = dt < scanned ? dt : scanned;
    }
    size_t bytes = 0;
    for (int i = 0; i < 7; i++) {
        double t = now();
        bytes = decompress_all(dbpath);
        double dt = now() - t;
        unzip = dt < unzip ? dt : unzip;
    }
    if (!bytes) {
        fprintf(stderr, "bench_vulns: no <Ecosystem>/all.zip in %s\n", dbpath);
        return 1;
    }
    printf("inventory: %zu packages; %zu affected by %zu advisories\n", npkgs, naff, nadv);
    printf("index build (and one scan):   %8.3f s\n", build);
    printf("scan with the index:          %8.3f s  (%.1f us a package)\n", scanned,
           scanned * 1e6 / (double)(npkgs ? npkgs : 1));
    printf("decompress the database only: %8.3f s  (%.1f MB of records, libzip)\n", unzip,
           (double)bytes / 1e6);
    printf("ratio scan / decompress:      %8.3f  (target: well under 1 s for the scan)\n",
           scanned / unzip);
    return 0;
}
