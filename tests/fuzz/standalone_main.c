/*  Regression driver for libFuzzer targets in the ordinary (non-clang-fuzzer) build.

    Runs LLVMFuzzerTestOneInput over every file in the directories or files given on the
    command line, so that inputs which once crashed a decoder (kept in tests/fuzz/corpus/)
    are replayed by every ctest run under ASan/UBSan. A missing corpus directory is an error:
    a regression runner that runs nothing must not pass.                                     */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int
s_run_file (const char *path)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "cannot open %s\n", path);
        return -1;
    }
    if (fseek (f, 0, SEEK_END) != 0) { fclose (f); return -1; }
    long len = ftell (f);
    if (len < 0 || fseek (f, 0, SEEK_SET) != 0) { fclose (f); return -1; }
    uint8_t *buf = malloc ((size_t) len + 1);
    if (!buf)
        abort ();
    size_t got = fread (buf, 1, (size_t) len, f);
    fclose (f);
    LLVMFuzzerTestOneInput (buf, got);
    free (buf);
    return 0;
}

int
main (int argc, char **argv)
{
    size_t files = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat (argv [i], &st) != 0) {
            fprintf (stderr, "corpus %s: missing\n", argv [i]);
            return 1;
        }
        if (S_ISREG (st.st_mode)) {
            if (s_run_file (argv [i]) != 0)
                return 1;
            files++;
            continue;
        }
        DIR *dir = opendir (argv [i]);
        if (!dir)
            return 1;
        struct dirent *de;
        while ((de = readdir (dir))) {
            if (de->d_name [0] == '.')
                continue;
            char path [4096];
            snprintf (path, sizeof path, "%s/%s", argv [i], de->d_name);
            if (s_run_file (path) != 0) {
                closedir (dir);
                return 1;
            }
            files++;
        }
        closedir (dir);
    }
    if (files == 0) {
        fprintf (stderr, "no corpus files given: nothing was tested\n");
        return 1;
    }
    printf ("%zu corpus inputs replayed without a crash\n", files);
    return 0;
}
