/* The ember command.
 *
 *   ember --version | --help | help [COMMAND]
 *   ember submit [--master M] JOB.c [ARGS...]
 *   ember http [OPTIONS]          (src/cli/http_cmd.c)
 *   ember history LOG... [--port N] | --list DIR   (src/cli/history_cmd.c)
 *
 * submit compiles a one-file C job against the installed library (found with
 * pkg-config, next to this program's own install first) into a cache keyed by
 * the file's content, the compiler command and the library version, then runs it
 * with $EMBER_MASTER set, as spark-submit runs a jar. The compiler's messages
 * pass through unchanged. Uses only the public API.
 */
#include <ember/ember.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>
#include <fcntl.h>
#include <time.h>

#include "cli/cli.h"
#include "core/mkdirs.h"
#include "core/xxh.h"

static const char SUBMIT_USAGE[] =
    "usage: ember submit [--master M] [-n N] JOB.c [ARGS...]\n"
    "compiles JOB.c against libember, caches the program, and runs it with ARGS (the job\n"
    "sees JOB.c as argv[0]), as spark-submit runs a jar.\n"
    "  --master M   local, local[N], local[*], local[N,F], process[N], process[N,F], or mpi\n"
    "               (sets EMBER_MASTER: a job that leaves conf.master NULL runs on it);\n"
    "               checked before anything is compiled\n"
    "  -n N         with --master mpi: N ranks through mpirun ($MPIRUN, default mpirun)\n"
    "the job file may name what it links, on lines of their own:\n"
    "  // ember: -lsqlite3 -lcrypto\n"
    "environment: CC (default cc), CFLAGS (default -O2), LDLIBS (after the job, with -lm),\n"
    "             EMBER_CACHE_DIR (default $XDG_CACHE_HOME/ember or ~/.cache/ember)\n"
    "the cache key is the job, the headers it includes, the compiler, the flags and the\n"
    "library; programs not used for 30 days are removed.\n";

static const char USAGE[] =
    "usage: ember --version\n"
    "       ember --help | help [http]\n"
    "       ember submit [--master M] [-n N] JOB.c [ARGS...]\n"
    "       ember http [--in FILE|-] [--out FILE|DIR/] [--concurrency N] [--rate N/s|N/min] ...\n"
    "       ember history LOG... [--port N] | ember history --list DIR\n"
    "       ember db load URL TABLE FILE... | ember db query URL SQL   (ember db --help)\n"
    "\n"
    "submit compiles JOB.c against libember (cached by content) and runs it with ARGS.\n"
    "  --master M   local, local[N], local[*], local[N,F], or mpi (sets EMBER_MASTER)\n"
    "  -n N         with --master mpi: run N ranks through mpirun ($MPIRUN, default mpirun)\n"
    "environment: CC (compiler, default cc), CFLAGS (extra flags, default -O2),\n"
    "             EMBER_CACHE_DIR (default $XDG_CACHE_HOME/ember or ~/.cache/ember)\n"
    "\n"
    "http sends a request for each input line (a URL or a JSON request) and writes one\n"
    "JSON line per request, in input order; `ember http --help` lists its options.\n"
    "\n"
    "history serves event logs, running and finished, with the web UI and Spark's REST API.\n"
    "environment (every job, submit's and http's too): EMBER_PROGRESS=0|1 (Spark's progress\n"
    "bar; default on when stderr is a terminal), EMBER_EVENT_LOG=PATH (the event log),\n"
    "EMBER_UI_PORT=N (the web UI on 127.0.0.1:N; -1: 4040 and up)\n";

/* Put the pkgconfig directory of this program's install first on PKG_CONFIG_PATH. */
static void find_own_pkgconfig(void)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = 0; /* the bin directory */
    const char *libdirs[] = {"lib", "lib64", "lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu"};
    for (size_t i = 0; i < sizeof libdirs / sizeof *libdirs; i++) {
        char pc[2 * PATH_MAX], dir[2 * PATH_MAX - 16];
        if (snprintf(dir, sizeof dir, "%s/../%s/pkgconfig", exe, libdirs[i]) >= (int)sizeof dir)
            return;
        snprintf(pc, sizeof pc, "%s/ember.pc", dir);
        if (access(pc, R_OK) == 0) {
            const char *old = getenv("PKG_CONFIG_PATH");
            char *path = malloc(strlen(dir) + (old ? strlen(old) : 0) + 2);
            if (!path)
                return;
            sprintf(path, "%s%s%s", dir, old && *old ? ":" : "", old && *old ? old : "");
            setenv("PKG_CONFIG_PATH", path, 1);
            free(path);
            return;
        }
    }
}

static int read_file(const char *path, char **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int err = buf ? 0 : -ENOMEM;
    while (!err) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *grown = realloc(buf, cap *= 2);
        if (grown)
            buf = grown;
        else
            err = -ENOMEM;
    }
    if (!err && ferror(f))
        err = -EIO;
    fclose(f);
    if (err) {
        free(buf);
        return err;
    }
    *data = buf;
    *len = n;
    return 0;
}

/* The cache: $EMBER_CACHE_DIR, else $XDG_CACHE_HOME/ember, else HOME/.cache/ember
 * (HOME from the environment, else the user's entry in the password database;
 * never a shared directory such as /tmp). It must be a directory of the user's
 * own that no one else may write (made 0700 when missing): another user's
 * binary must never run as this one. 0, or 1 with a message. */
static int cache_dir(char *out, size_t cap)
{
    const char *d = getenv("EMBER_CACHE_DIR"), *xdg = getenv("XDG_CACHE_HOME"),
               *home = getenv("HOME");
    if (!(home && *home)) {
        struct passwd *pw = getpwuid(geteuid());
        home = pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
    }
    if (d && *d)
        snprintf(out, cap, "%s", d);
    else if (xdg && *xdg)
        snprintf(out, cap, "%s/ember", xdg);
    else if (home)
        snprintf(out, cap, "%s/.cache/ember", home);
    else {
        fprintf(stderr, "ember submit: no cache directory: HOME is not set and the user has no "
                        "home directory (set EMBER_CACHE_DIR)\n");
        return 1;
    }
    struct stat st;
    if (lstat(out, &st) != 0) {
        int rc = ember__mkdirs(out);
        if (rc || chmod(out, 0700)) {
            fprintf(stderr, "ember submit: cannot create the cache %s: %s\n", out,
                    strerror(rc ? -rc : errno));
            return 1;
        }
        if (lstat(out, &st) != 0) {
            fprintf(stderr, "ember submit: cannot use the cache %s: %s\n", out, strerror(errno));
            return 1;
        }
    }
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077)) {
        fprintf(stderr,
                "ember submit: refusing the cache %s: it must be a directory of your own (uid "
                "%ld) that no one else can read or write (chmod 700), and it is %s owned by "
                "uid %ld with mode %03o\n",
                out, (long)geteuid(), S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                (long)st.st_uid, (unsigned)(st.st_mode & 0777));
        return 1;
    }
    return 0;
}

/* A cached binary may run only when it is a plain file of the user's own that
 * no one else can write. */
static bool own_binary(const char *bin)
{
    struct stat st;
    return lstat(bin, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
           !(st.st_mode & 022) && (st.st_mode & S_IXUSR);
}

/* Compile job into bin; 0, or the compiler's exit status. */
static int compile(const char *job, const char *bin)
{
    char tmp[2 * PATH_MAX], path[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", bin, (long)getpid());
    /* a file name never reads as an option: "-ohijack.c" becomes "./-ohijack.c" */
    snprintf(path, sizeof path, "%s%s", job[0] == '-' ? "./" : "", job);
    job = path;
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        /* -z now: the program's calls are bound at start, so a process[N]
         * worker does not bind the functions only workers call (a user
         * function's ember_emit_i64) anew in every fork: 6 of 76 page faults
         * a fork, 0.96x the time of a tiny job at process[2] (bench/RESULTS.md) */
        execl("/bin/sh", "sh", "-c",
              "exec ${CC:-cc} ${CFLAGS:--O2} -o \"$1\" \"$2\" "
              "$(pkg-config --cflags --libs ember) $EMBER_JOB_FLAGS ${LDLIBS} -lm "
              "-Wl,-z,now -Wl,-rpath,\"$(pkg-config --variable=libdir ember)\"",
              "sh", tmp, job, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
    if (code) {
        unlink(tmp);
        return code;
    }
    if (chmod(tmp, 0700) || rename(tmp, bin)) {
        fprintf(stderr, "ember submit: cannot place %s: %s\n", bin, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

/* The job's "// ember: FLAGS" lines, joined (into EMBER_JOB_FLAGS). */
static void job_flags(const char *src, size_t len)
{
    char flags[4096] = "";
    size_t at = 0;
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && src[end] != '\n')
            end++;
        const char *l = src + i;
        size_t n = end - i;
        while (n && (*l == ' ' || *l == '\t'))
            l++, n--;
        if (n > 9 && !strncmp(l, "// ember:", 9) && at + n < sizeof flags - 2) {
            at += (size_t)snprintf(flags + at, sizeof flags - at, " %.*s", (int)(n - 9), l + 9);
        }
        i = end + 1;
    }
    setenv("EMBER_JOB_FLAGS", flags, 1);
}

/* Hash the files the compiler says job includes (its -MM list) into st. */
static void hash_headers(XXH3_state_t *st, const char *job)
{
    int fds[2];
    if (pipe(fds))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execl("/bin/sh", "sh", "-c",
              "exec ${CC:-cc} ${CFLAGS:--O2} -M -MT x \"$1\" $(pkg-config --cflags ember) "
              "$EMBER_JOB_FLAGS 2>/dev/null",
              "sh", job, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = pid > 0 ? fdopen(fds[0], "r") : NULL;
    char word[PATH_MAX];
    while (f && fscanf(f, "%4095s", word) == 1) {
        if (!strcmp(word, "x:") || !strcmp(word, "\\"))
            continue;
        char *data = NULL;
        size_t n = 0;
        XXH3_128bits_update(st, word, strlen(word) + 1);
        if (!read_file(word, &data, &n)) {
            XXH3_128bits_update(st, data, n);
            free(data);
        }
    }
    if (f)
        fclose(f);
    else
        close(fds[0]);
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
}

/* Programs of the cache not used for 30 days go. */
static void prune(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    time_t old = time(NULL) - 30 * 24 * 3600;
    while (d && (e = readdir(d))) {
        char path[2 * PATH_MAX];
        struct stat st;
        if (strncmp(e->d_name, "job-", 4))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (!lstat(path, &st) && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
            st.st_mtime < old && st.st_atime < old)
            unlink(path);
    }
    if (d)
        closedir(d);
}

static int submit(int argc, char **argv)
{
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(SUBMIT_USAGE, stdout);
        return 0;
    }
    int i = 0;
    const char *ranks = NULL, *master = NULL;
    while (i < argc && (!strcmp(argv[i], "--master") || !strcmp(argv[i], "-n"))) {
        if (i + 1 >= argc) {
            fprintf(stderr, "ember submit: %s needs a value\n%s", argv[i], USAGE);
            return 2;
        }
        if (!strcmp(argv[i], "-n"))
            ranks = argv[i + 1];
        else
            master = argv[i + 1];
        i += 2;
    }
    if (master && ember_master_check(master)) { /* the library's own verdict and words */
        fprintf(stderr, "ember submit: %s\n", ember_errmsg(NULL));
        return 2;
    }
    if (master)
        setenv("EMBER_MASTER", master, 1);
    bool mpi = master && !strncmp(master, "mpi", 3);
    if (ranks && (!mpi || atoi(ranks) < 1)) {
        fprintf(stderr, "ember submit: -n N (N >= 1) goes with --master mpi\n%s", USAGE);
        return 2;
    }
    if (i >= argc) {
        fprintf(stderr, "ember submit: no job file\n%s", USAGE);
        return 2;
    }
    const char *job = argv[i];
    char *src = NULL;
    size_t len = 0;
    int rc = read_file(job, &src, &len);
    if (rc) {
        fprintf(stderr, "ember submit: cannot read %s: %s\n", job, strerror(-rc));
        return 2;
    }
    find_own_pkgconfig();
    job_flags(src, len);
    /* the key: the source and the headers it includes, the compiler command and
     * the library it builds against */
    XXH3_state_t *st = XXH3_createState();
    if (!st) {
        free(src);
        return 1;
    }
    XXH3_128bits_reset(st);
    XXH3_128bits_update(st, src, len);
    const char *parts[] = {getenv("CC"),
                           getenv("CFLAGS"),
                           getenv("LDLIBS"),
                           getenv("PKG_CONFIG_PATH"),
                           getenv("EMBER_JOB_FLAGS"),
                           EMBER_VERSION_STRING};
    for (size_t k = 0; k < sizeof parts / sizeof *parts; k++) {
        const char *s = parts[k] ? parts[k] : "";
        XXH3_128bits_update(st, s, strlen(s) + 1);
    }
    char dashless[PATH_MAX + 8]; /* a name never read as an option */
    snprintf(dashless, sizeof dashless, "%s%s", job[0] == '-' ? "./" : "", job);
    hash_headers(st, dashless);
    XXH128_hash_t h = XXH3_128bits_digest(st);
    XXH3_freeState(st);
    free(src);

    char dir[PATH_MAX], bin[PATH_MAX + 64];
    if (cache_dir(dir, sizeof dir))
        return 1;
    snprintf(bin, sizeof bin, "%s/job-%016llx%016llx", dir, (unsigned long long)h.high64,
             (unsigned long long)h.low64);
    if (!own_binary(bin)) {
        unlink(bin); /* not ours, or not there: build it */
        if ((rc = compile(job, bin)) != 0) {
            fprintf(stderr, "ember submit: compiling %s failed\n", job);
            return rc;
        }
        if (!own_binary(bin)) {
            fprintf(stderr, "ember submit: the compiled %s is not a file of your own\n", bin);
            return 1;
        }
        prune(dir);
    } else {
        /* used now: its access time keeps it from the pruning (mtime stays the build's) */
        struct timespec t[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_OMIT}};
        utimensat(AT_FDCWD, bin, t, 0);
    }
    argv[i] = (char *)job; /* the job sees its own file name as argv[0] */
    if (mpi) {
        /* mpirun -n N [--allow-run-as-root] BIN ARGS: every rank runs the job */
        const char *mpirun = getenv("MPIRUN") ? getenv("MPIRUN") : "mpirun";
        char **av = calloc((size_t)(argc - i) + 8, sizeof *av);
        if (!av)
            return 1;
        int k = 0;
        av[k++] = (char *)mpirun;
        av[k++] = "-n";
        av[k++] = (char *)(ranks ? ranks : "1");
        if (geteuid() == 0)
            av[k++] = "--allow-run-as-root";
        av[k++] = bin;
        for (int j = i + 1; j < argc; j++)
            av[k++] = argv[j];
        av[k] = NULL;
        execvp(mpirun, av);
        fprintf(stderr, "ember submit: cannot run %s (Open MPI's openmpi-bin): %s\n", mpirun,
                strerror(errno));
        free(av);
        return 1;
    }
    execv(bin, argv + i);
    fprintf(stderr, "ember submit: cannot run %s: %s\n", bin, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ember %s\n", EMBER_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc > 2 && !strcmp(argv[2], "http"))
            return ember_cli_http(1, (char *[]){"--help", NULL});
        if (argc > 2 && !strcmp(argv[2], "submit")) {
            fputs(SUBMIT_USAGE, stdout);
            return 0;
        }
        if (argc > 2 && !strcmp(argv[2], "history"))
            return ember_cli_history(1, (char *[]){"--help", NULL});
        if (argc > 2 && strcmp(argv[2], "submit")) {
            fprintf(stderr, "ember help: no command '%s' (submit, http, history)\n", argv[2]);
            return 2;
        }
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "submit"))
        return submit(argc - 2, argv + 2);
    if (!strcmp(argv[1], "http"))
        return ember_cli_http(argc - 2, argv + 2);
    if (!strcmp(argv[1], "history"))
        return ember_cli_history(argc - 2, argv + 2);
    if (!strcmp(argv[1], "db"))
        return ember_cli_db(argc - 2, argv + 2);
    fprintf(stderr, "ember: unknown command '%s'\n%s", argv[1], USAGE);
    return 2;
}
