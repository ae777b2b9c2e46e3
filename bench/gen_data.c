/* Deterministic benchmark inputs.
 *   gen_data lines PATH MB   lines of 10-90 printable characters
 *   gen_data csv PATH MB     5 columns: id, a name, a quoted note with commas and
 *                            doubled quotes, an integer, a decimal; a header
 *   gen_data zipf PATH MB    words drawn Zipf (s = 1) from a 50,000-word vocabulary,
 *                            6-18 words a line, separated by single spaces
 *   gen_data recs PATH N     N records of 99 printable bytes and a newline; the
 *                            first 10 bytes are the random sort key
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}

enum { VOCAB = 50000 };

/* Zipf over a vocabulary of lowercase words (rank 1 most frequent): a uniform
 * draw searched in the cumulative weights 1/rank */
static int zipf(FILE *f, uint64_t want)
{
    static char words[VOCAB][16];
    static double cdf[VOCAB];
    double total = 0;
    for (int i = 0; i < VOCAB; i++) {
        int n = 1 + (int)(next() % 8);
        for (int k = 0; k < n; k++)
            words[i][k] = (char)('a' + next() % 26);
        /* a suffix from the rank keeps every word distinct */
        snprintf(words[i] + n, sizeof words[i] - (size_t)n, "%x", (unsigned)i);
        total += 1.0 / (i + 1);
        cdf[i] = total;
    }
    uint64_t wrote = 0;
    char line[512];
    while (wrote < want) {
        int n = 6 + (int)(next() % 13), len = 0;
        for (int w = 0; w < n; w++) {
            double u = (double)(next() >> 11) / 9007199254740992.0 * total;
            int lo = 0, hi = VOCAB - 1;
            while (lo < hi) {
                int mid = (lo + hi) / 2;
                if (cdf[mid] < u)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            len += snprintf(line + len, sizeof line - (size_t)len, w ? " %s" : "%s", words[lo]);
        }
        line[len++] = '\n';
        fwrite(line, 1, (size_t)len, f);
        wrote += (uint64_t)len;
    }
    return fclose(f) ? 1 : 0;
}

static int recs(FILE *f, uint64_t n)
{
    char rec[100];
    for (uint64_t i = 0; i < n; i++) {
        for (int k = 0; k < 99; k++)
            rec[k] = (char)('!' + next() % 94);
        rec[99] = '\n';
        fwrite(rec, 1, sizeof rec, f);
    }
    return fclose(f) ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    FILE *f = fopen(argv[2], "wb");
    if (!f)
        return 1;
    if (!strcmp(argv[1], "zipf"))
        return zipf(f, (uint64_t)atoll(argv[3]) << 20);
    if (!strcmp(argv[1], "recs"))
        return recs(f, (uint64_t)atoll(argv[3]));
    uint64_t want = (uint64_t)atoll(argv[3]) << 20, wrote = 0;
    static char line[512];
    bool csv = !strcmp(argv[1], "csv");
    if (csv)
        wrote += (uint64_t)fprintf(f, "id,name,note,count,price\n");
    for (uint64_t i = 0; wrote < want; i++) {
        int n;
        if (csv) {
            n = snprintf(line, sizeof line,
                         "%" PRIu64 ",name%" PRIu64 ",\"note, with \"\"quotes\"\" %" PRIu64
                         "\",%" PRIu64 ",%" PRIu64 ".%02" PRIu64 "\n",
                         i, next() % 100000, next() % 1000, next() % 100000, next() % 10000,
                         next() % 100);
        } else {
            n = (int)(10 + next() % 81);
            for (int k = 0; k < n; k++)
                line[k] = (char)(' ' + 1 + next() % 94);
            line[n++] = '\n';
        }
        fwrite(line, 1, (size_t)n, f);
        wrote += (uint64_t)n;
    }
    return fclose(f) ? 1 : 0;
}
