/* Smoke test of the aurora C tarball, built through pkg-config (scripts/test-packages.sh).
 * Usage: smoke EXPECTED_VERSION DB_DIR -- one line per check, exits 1 on a failure. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <aurora.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures = 0;
static atomic_int handled = 0;
static char seen_job[4096];

static void check(int ok, const char *what, const char *detail) {
    printf("%s: %s%s%s\n", ok ? "ok" : "FAILED", what, detail ? ": " : "", detail ? detail : "");
    failures += !ok;
}

/* Runs `aql` and returns the result (to free), or NULL with the error's code name in *code. */
static char *run(AuroraDb db, const char *aql, const char *vars, const char **code) {
    char *out = NULL;
    AuroraErrorInfo *err = NULL;
    if (aurora_execute(db, aql, vars, &out, &err) != AURORA_STATUS_OK) {
        *code = err->code_name;
        aurora_error_free(err);
        return NULL;
    }
    return out;
}

static int32_t greet(void *user_data, const char *job_json, char *error_buf, size_t error_buf_len) {
    (void)user_data, (void)error_buf, (void)error_buf_len;
    snprintf(seen_job, sizeof seen_job, "%s", job_json);
    atomic_fetch_add(&handled, 1);
    return 0;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    const char *code = "";
    check(strcmp(aurora_version(), argv[1]) == 0, "version", aurora_version());
    AuroraDb db = 0;
    if (aurora_open(argv[2], NULL, &db, NULL) != AURORA_STATUS_OK) return 1;
    aurora_string_free(run(db, "schema { define collection users { email: String! @unique  age: Int } }", NULL, &code));
    AuroraSubscription sub = 0;
    check(aurora_stream(db, "subscription { users { email } }", NULL, &sub, NULL) == AURORA_STATUS_OK, "stream", NULL);

    char *r = run(db, "mutation ($e: String!, $a: Int) { insertInto(collection: \"users\", data: { email: $e, age: $a }) { email } }",
                  "{\"e\": \"ann@x.io\", \"a\": 41}", &code);
    check(r && strcmp(r, "{\"insertInto\":{\"email\":\"ann@x.io\"}}") == 0, "insert with variables", r);
    aurora_string_free(r);
    r = run(db, "query ($min: Int) { users(where: { age: { gte: $min } }) { email age } }", "{\"min\": 40}", &code);
    check(r && strcmp(r, "{\"users\":[{\"email\":\"ann@x.io\",\"age\":41}]}") == 0, "query", r);
    aurora_string_free(r);
    char *event = NULL;
    aurora_subscription_next(sub, 10000, &event, NULL);
    check(event && strstr(event, "\"email\":\"ann@x.io\""), "subscription event", event);
    aurora_string_free(event);
    aurora_subscription_close(sub, NULL);

    aurora_register_handler(db, "greet", greet, NULL, NULL, NULL);
    aurora_start_workers(db, 0, NULL);
    char *id = NULL, *status = NULL;
    aurora_enqueue(db, "greet", "{\"to\": \"ann@x.io\"}", NULL, -1, &id, NULL);
    for (int i = 0; i < 1000 && !(status && strstr(status, "\"status\":\"COMPLETED\"")); i++) {
        sleep_ms(20);
        aurora_string_free(status);
        status = NULL;
        aurora_job_status(db, id, &status, NULL);
    }
    check(status && strstr(status, "\"status\":\"COMPLETED\"") && atomic_load(&handled) == 1 &&
              strstr(seen_job, "\"payload\":{\"to\":\"ann@x.io\"}"),
          "job run by a C handler", seen_job);
    aurora_string_free(status);
    aurora_string_free(id);

    r = run(db, "query { nope { x } }", NULL, &code);
    check(!r && strcmp(code, "NOT_FOUND") == 0, "error code", code);
    aurora_close(db, NULL);
    return failures ? 1 : 0;
}
