/* The decoders of records handed to users: an HTTP response record
 * (ember_http_response_get, _header, _json), a nested partition or group
 * (ember_iter_init, as glom and cogroup values are read), and a CSV row
 * (ember_csv_field, ember_csv_nfields), on any bytes: an error or values, and
 * never a read outside the bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ember/ember.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan sees any read past them */
    uint8_t *p = malloc(size ? size : 1);
    if (!p)
        return 0;
    memcpy(p, data, size);
    ember_bytes b = {p, size};
    ember_http_response r;
    if (ember_http_response_get(b, &r) == 0) {
        ember_http_response_header(&r, "content-type");
        ember_http_response_header(&r, "x");
        ember_buf j = {0};
        ember_http_response_json(b, &j);
        j.len = 0;
        ember_http_response_json_ex(b, &j, EMBER_HTTP_JSON_BODY);
        ember_buf_destroy(&j);
    }
    ember_iter it;
    ember_iter_init(&it, b);
    ember_rec rec;
    for (int i = 0; i < 100000 && ember_iter_next(&it, &rec) == 1; i++) {
        ember_iter inner;
        ember_iter_init(&inner, rec.val);
        ember_rec in2;
        for (int k = 0; k < 1000 && ember_iter_next(&inner, &in2) == 1; k++)
            ;
    }
    size_t n = ember_csv_nfields(b);
    ember_bytes f;
    for (size_t i = 0; i <= n && i < 100000; i++)
        ember_csv_field(b, i, &f);
    free(p);
    return 0;
}
