/* Decides the same requests from several threads at once; every thread must get the
   single-threaded answers. Built against the scenario-free `score` policy of the test. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"

#define REQUESTS 1000
#define THREADS 4
#define ROUNDS 200

static bylaw_request requests[REQUESTS];
static int expected[REQUESTS];
static int mismatches[THREADS];

static void *work(void *arg) {
    int t = (int)(size_t)arg, round, i;
    bylaw_result result;
    for (round = 0; round < ROUNDS; round++) {
        for (i = 0; i < REQUESTS; i++) {
            bylaw_decide(&requests[i], 0, &result);
            if (bylaw_outcome(&result) != expected[i]) mismatches[t]++;
        }
    }
    return NULL;
}

int main(void) {
    pthread_t threads[THREADS];
    bylaw_result result;
    int i, total = 0, denied = 0;
    for (i = 0; i < REQUESTS; i++) {
        bylaw_request_init(&requests[i]);
        bylaw_set_float(&requests[i], BYLAW_FIELD_SCORE, (double)(i % 100) / 100.0);
        bylaw_set_string(&requests[i], BYLAW_FIELD_USER, (i % 7 == 0) ? "mallory" : "alice");
        bylaw_decide(&requests[i], 0, &result);
        expected[i] = bylaw_outcome(&result);
        denied += expected[i] == BYLAW_DENY;
    }
    for (i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, work, (void *)(size_t)i);
    for (i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    for (i = 0; i < THREADS; i++) total += mismatches[i];
    printf("%d denied, %d mismatches\n", denied, total);
    return total != 0;
}
