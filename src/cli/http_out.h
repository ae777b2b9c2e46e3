/* `ember http`'s output side (src/cli/http_out.c): the answers as JSON lines,
 * the ordered writer that streams them in input order, the output file
 * replaced whole at commit, and the part files of a distributed run. */
#ifndef EMBER_CLI_HTTP_OUT_H
#define EMBER_CLI_HTTP_OUT_H

#include <ember/ember.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct line_args {
    bool body_json, keyed; /* keyed: keep the sequence number as the key */
} line_args;

/* A response record as its JSON line, with the input's line number first (a
 * map function; arg: line_args). */
int ember_cli_to_json(ember_rec in, ember_out *out, void *arg);

#define HOLD_MEM (4u << 20) /* a waiting partition's lines kept in memory; more go to a file */

typedef struct held {
    ember_buf mem;
    int fd; /* an unlinked file for what is past HOLD_MEM, -1 none */
    off_t spilled;
} held;

typedef struct writer {
    pthread_mutex_t mu;
    int fd;      /* where lines go */
    bool stream; /* each line at once (standard output, a pipe, a device) */
    ember_buf buf;
    size_t n;
    int parts, head;
    int64_t *start, *next; /* per partition: first sequence number, next expected */
    held *held;
    int err;        /* the first write error (errno), 0 none */
    ember_ctx *ctx; /* cancelled on a write error */
    char scratch[PATH_MAX];
} writer;

/* foreach: a partition's lines, written in partition order (held until their
 * turn, past HOLD_MEM in a file). */
int ember_cli_writer_each(ember_rec in, void *arg);
/* What the writer buffered, written: 0 or an errno. */
int ember_cli_writer_flush(writer *w);
void ember_cli_writer_free(writer *w);

/* A named temporary output (http_cmd.c), removed by a second signal. */
extern char ember_cli_scratch[PATH_MAX + 64];

typedef struct output {
    const char *name; /* for messages */
    int fd;           /* -1: standard output */
    bool atomic;      /* an unnamed file, named at commit */
    bool tmpfile;     /* O_TMPFILE (else scratch names a file to rename) */
    char target[PATH_MAX], scratch[PATH_MAX + 64];
} output;

/* Where the answers go: standard output, a file written through (not a plain
 * file), or a plain file replaced whole at the end. 0, or 2 after a message. */
int ember_cli_output_open(const char *out, output *o);
/* The output in place (a plain file named, or renamed over the old one). 0, or
 * 2 after a message. */
int ember_cli_output_commit(output *o);
void ember_cli_output_close(output *o);

/* Distributed: the lines saved as part files by every rank, then copied in
 * order into the output by rank 0. 0, or 2 after a message. */
int ember_cli_save_distributed(ember_ctx *ctx, ember_rdd *json, output *o, const char *out,
                               int parts);

#endif
