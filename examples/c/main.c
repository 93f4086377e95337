/* A host for a Bylaw enforcement module: reads requests, decides, prints decisions.
 *
 *   bylaw build policy.bylaw -o guard.o          # writes guard.o and guard.h
 *   cc -O2 -I. examples/c/main.c guard.o -o host
 *   ./host < requests.txt
 *
 * Input: one `path=value` line per field (see bylaw_set_text), a blank line after each
 * request. Output: one line per request — outcome, tier, and the rules that fired.
 * `--words` prints the raw result words instead (used by Bylaw's tests); `--bench N`
 * decides every request N times and prints nanoseconds per decision. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guard.h"

/* Every request borrows its strings from the input buffer, which lives to the end. */
typedef struct {
    bylaw_request request;
} entry;

static char *read_all(FILE *in, size_t *len) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    while ((got = fread(buf + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger) { free(buf); return NULL; }
            buf = bigger;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int main(int argc, char **argv) {
    int words = 0, bench = 0, degraded = 0, i;
    size_t len = 0, count = 0, cap = 1024, k;
    char *all, *line;
    entry *entries;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--words") == 0) words = 1;
        else if (strcmp(argv[i], "--degraded") == 0) degraded = 1;
        else if (strcmp(argv[i], "--bench") == 0 && i + 1 < argc) bench = atoi(argv[++i]);
        else { fprintf(stderr, "usage: %s [--words] [--degraded] [--bench N] < requests\n", argv[0]); return 2; }
    }
    if (bylaw_schema_fingerprint() != BYLAW_SCHEMA_FINGERPRINT) {
        fprintf(stderr, "the module (%s %s) was built for another schema\n", bylaw_policy_name(), bylaw_policy_version());
        return 2;
    }
    all = read_all(stdin, &len);
    entries = malloc(cap * sizeof *entries);
    if (!all || !entries) return 1;
    bylaw_request_init(&entries[0].request);
    int open = 0;
    char *p = all;
    for (;;) {
        char *nl = strchr(p, '\n');
        line = p;
        if (nl) *nl = '\0';
        if (*line == '\0' || !nl) {
            if (*line != '\0') {
                char *eq = strchr(line, '=');
                if (!eq) { fprintf(stderr, "not `path=value`: %s\n", line); return 2; }
                *eq = '\0';
                bylaw_set_text(&entries[count].request, line, eq + 1);
                open = 1;
            }
            if (open) {
                count++;
                if (count == cap) {
                    entry *bigger = realloc(entries, cap * 2 * sizeof *entries);
                    if (!bigger) return 1;
                    entries = bigger;
                    cap *= 2;
                }
                bylaw_request_init(&entries[count].request);
                open = 0;
            }
            if (!nl) break;
            p = nl + 1;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq) { fprintf(stderr, "not `path=value`: %s\n", line); return 2; }
        *eq = '\0';
        bylaw_set_text(&entries[count].request, line, eq + 1);
        open = 1;
        p = nl + 1;
    }
    if (bench > 0) {
        bylaw_result result;
        struct timespec a, b;
        unsigned long denied = 0;
        int round;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (round = 0; round < bench; round++) {
            for (k = 0; k < count; k++) {
                bylaw_decide(&entries[k].request, degraded, &result);
                denied += bylaw_outcome(&result) == BYLAW_DENY;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
        printf("%.2f ns per decision (%lu denied)\n", ns / ((double)count * bench), denied);
        return 0;
    }
    for (k = 0; k < count; k++) {
        bylaw_result result;
        bylaw_decide(&entries[k].request, degraded, &result);
        if (words) {
            for (i = 0; i < BYLAW_RESULT_WORDS; i++) printf(i ? " %llx" : "%llx", (unsigned long long)result.words[i]);
            printf("\n");
            continue;
        }
        int tier = bylaw_tier(&result);
        printf("%s tier=%s", bylaw_outcome_name(bylaw_outcome(&result)), tier >= 0 ? bylaw_tier_name(tier) : "none");
        if (bylaw_status(&result) == BYLAW_INVALID) printf(" invalid");
        if (bylaw_failure_text(&result)) printf(" failed=`%s`", bylaw_failure_text(&result));
        for (i = 0; i < BYLAW_RULE_COUNT; i++) {
            if (bylaw_rule_fired(&result, i)) printf(" [%s]", bylaw_rule_message(i));
        }
        for (i = 0; i < BYLAW_DUTY_COUNT; i++) {
            if (bylaw_duty_applies(&result, i)) printf(" duty=%s%s", bylaw_duty_name(i), bylaw_duty_met(&result, i) ? "" : "(unmet)");
        }
        printf("\n");
    }
    return 0;
}
