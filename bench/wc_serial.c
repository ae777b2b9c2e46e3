/* The hand-written serial C word count ember's is measured beside: read the file
 * in large blocks, split on whitespace, count in one open-addressing hash table
 * (XXH3 of the word). Prints MB/s; the distinct and total word counts on stderr.
 *   wc_serial PATH
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <xxhash.h>

typedef struct {
    uint64_t hash;
    char *word; /* NULL: empty slot */
    uint32_t len;
    int64_t count;
} slot;

static slot *table;
static size_t cap = 1 << 16, used;

static void grow(void)
{
    slot *old = table;
    size_t n = cap;
    cap *= 2;
    table = calloc(cap, sizeof *table);
    if (!table)
        exit(1);
    for (size_t i = 0; i < n; i++)
        if (old[i].word) {
            size_t j = old[i].hash & (cap - 1);
            while (table[j].word)
                j = (j + 1) & (cap - 1);
            table[j] = old[i];
        }
    free(old);
}

static void add(const char *w, size_t len)
{
    uint64_t h = XXH3_64bits(w, len);
    size_t j = h & (cap - 1);
    while (table[j].word) {
        if (table[j].hash == h && table[j].len == len && !memcmp(table[j].word, w, len)) {
            table[j].count++;
            return;
        }
        j = (j + 1) & (cap - 1);
    }
    table[j] = (slot){h, malloc(len), (uint32_t)len, 1};
    if (!table[j].word)
        exit(1);
    memcpy(table[j].word, w, len);
    if (++used * 2 > cap)
        grow();
}

static int space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 1;
    table = calloc(cap, sizeof *table);
    enum { BLOCK = 1 << 20 };
    char *buf = malloc(2 * BLOCK);
    if (!table || !buf)
        return 1;
    size_t keep = 0, got, bytes = 0;
    int64_t total = 0;
    while ((got = fread(buf + keep, 1, BLOCK, f)) > 0 || keep) {
        size_t end = keep + got, p = 0, last = 0;
        bytes += got;
        while (p < end) {
            while (p < end && space(buf[p]))
                p++;
            size_t w = p;
            while (p < end && !space(buf[p]))
                p++;
            if (p == end && got) { /* the word may go on in the next block */
                last = w;
                break;
            }
            if (p > w) {
                add(buf + w, p - w);
                total++;
            }
            last = p;
        }
        keep = end - last;
        memmove(buf, buf + last, keep);
        if (!got)
            break;
    }
    fclose(f);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%.1f\n", (double)bytes / 1e6 / secs);
    fprintf(stderr, "%zu distinct words, %lld words\n", used, (long long)total);
    return 0;
}
