/* The HTTP stage's request parser and header callbacks on any bytes (through
 * ember__http_probe, src/net/http.c): a request line (a URL or a JSON request
 * with headers and a body), and the answer's header lines (Retry-After,
 * RateLimit-*, kept headers), never sending anything. The first byte picks
 * how the rest is split between them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ember/ember.h>

int ember__http_probe(const void *request, size_t rlen, const void *headers, size_t hlen);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = size > 1 ? data[0] % size : 0;
    uint8_t *req = malloc(cut ? cut : 1), *hdr = malloc(size - cut ? size - cut : 1);
    memcpy(req, data + 1, cut ? cut - 1 : 0);
    memcpy(hdr, data + cut, size - cut);
    ember__http_probe(req, cut ? cut - 1 : 0, hdr, size - cut);
    free(req);
    free(hdr);
    return 0;
}
