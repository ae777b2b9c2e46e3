/* Deterministic benchmark inputs.
 *   gen_data lines PATH MB   lines of 10-90 printable characters
 *   gen_data csv PATH MB     5 columns: id, a name, a quoted note with commas and
 *                            doubled quotes, an integer, a decimal; a header
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

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    FILE *f = fopen(argv[2], "wb");
    if (!f)
        return 1;
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
