/* ember — JSON rows on jansson: a record read as a json_t, a json_t emitted
 * as a record, paths plucked. Include it after ember/ember.h; link jansson
 * too (pkg-config --libs ember jansson).
 *
 *   static int pluck(ember_rec in, ember_out *out, void *arg)
 *   {
 *       json_t *j = ember_json_of(in.val, NULL);
 *       int rc = j ? ember_emit_jsonf(out, "{s:O?, s:O?}", "id", ember_json_path(j, "0.id"),
 *                                     "url", ember_json_path(j, "0.url"))
 *                  : EMBER_EINVAL;
 *       json_decref(j);
 *       return rc;
 *   }
 */
#ifndef EMBER_JSON_H
#define EMBER_JSON_H

#include <jansson.h>

#include "ember/ember.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The record's bytes as JSON (any value, not only objects): a new reference
 * the caller json_decref()s, or NULL when they are not JSON (err, if not
 * NULL, says where). */
EMBER_EXTERN json_t *ember_json_of(ember_bytes val, json_error_t *err);
/* Emit j as one line of compact JSON (object keys in their order); j is not
 * taken. 0, EMBER_EINVAL (j NULL), EMBER_ENOMEM, or the pipeline's code. */
EMBER_EXTERN int ember_emit_json(ember_out *out, const json_t *j);
/* Emit the JSON json_pack(fmt, ...) builds ("{s:i, s:s}", "n", 1, "name",
 * "x"); a format that does not build is EMBER_EINVAL, with jansson's message
 * as the task's failure. */
EMBER_EXTERN int ember_emit_jsonf(ember_out *out, const char *fmt, ...);
/* The value at path ("a.b", "breeds.0.name": object keys, or array indexes
 * for arrays) of j, borrowed from j; NULL when absent. */
EMBER_EXTERN json_t *ember_json_path(json_t *j, const char *path);

#ifdef __cplusplus
}
#endif
#endif
