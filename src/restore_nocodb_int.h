/* restore_nocodb_int.h - shared by restore_nocodb.c and
 * restore_nocodb_schema.c only. */
#ifndef BFS_RESTORE_NOCODB_INT_H
#define BFS_RESTORE_NOCODB_INT_H

#include <stdbool.h>

#include <cJSON.h>

/* The string member key of o, or NULL. */
static inline const char *str_of(const cJSON *o, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* A column NocoDB makes by itself in every table (Id, CreatedAt, ...). */
bool ncr_col_system(const cJSON *c);

/* A field a record can be given: stored, not made by NocoDB. */
bool ncr_col_writable(const cJSON *c);

#endif
