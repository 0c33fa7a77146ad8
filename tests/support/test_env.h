/*  Shared by the worker tests: the test services' settings into the environment, the
    configuration loaded from it, one value of a metrics registry (rendered, or sampled).    */
#ifndef ZM_TEST_ENV_H
#define ZM_TEST_ENV_H

#include "common/config.h"
#include "common/metrics.h"
#include "tests/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ZM_S3_ENDPOINT, _REGION, _ACCESS_KEY, _SECRET_KEY from the test S3 server (ZM_TEST_S3_*:
//  the test fails when one is missing) and ZM_S3_BUCKET = bucket.
static inline void
t_env_s3 (const char *bucket)
{
    setenv ("ZM_S3_ENDPOINT", TEST_ENV ("ZM_TEST_S3_ENDPOINT"), 1);
    setenv ("ZM_S3_BUCKET", bucket, 1);
    setenv ("ZM_S3_REGION", TEST_ENV ("ZM_TEST_S3_REGION"), 1);
    setenv ("ZM_S3_ACCESS_KEY", TEST_ENV ("ZM_TEST_S3_ACCESS_KEY"), 1);
    setenv ("ZM_S3_SECRET_KEY", TEST_ENV ("ZM_TEST_S3_SECRET_KEY"), 1);
}

//  Loads the configuration from the environment (set the ZM_* variables first).
static inline void
t_config (zm_config_t *cfg)
{
    char *argv [] = { "test", NULL };
    char err [256];
    memset (cfg, 0, sizeof *cfg);
    int rc = zm_config_load (cfg, 1, argv, err, sizeof err);
    if (rc != 0)
        fprintf (stderr, "config: %s\n", err);
    CHECK_EQ_INT (rc, 0);
}

//  One value of the rendered registry ("name{labels}", as rendered), 0 when absent.
static inline double
t_metric (metrics_t *m, const char *series)
{
    char *text = metrics_render (m, NULL);
    CHECK (text);
    double v = 0;
    char pat [256];
    snprintf (pat, sizeof pat, "\n%s ", series);
    const char *p = strstr (text, pat);
    if (p)
        v = atof (p + strlen (pat));
    free (text);
    return v;
}

//  The value of the last sample named name in m whose first label's value is label_value
//  (NULL: any labels), from metrics_samples; -1 when there is none.
static inline double
t_sample (metrics_t *m, const char *name, const char *label_value)
{
    metrics_sample_t *rows;
    ssize_t n = metrics_samples (m, &rows);
    double v = -1;
    for (ssize_t i = 0; i < n; i++)
        if (strcmp (rows [i].name, name) == 0
        &&  (!label_value || (rows [i].nlabels && strcmp (rows [i].labels [0].value,
                                                            label_value) == 0)))
            v = rows [i].value;
    free (rows);
    return v;
}

#endif
