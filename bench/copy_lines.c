/* copy_lines - the baseline the JSON pipeline is measured against: a plain C
 * getline + fwrite copy of a file. Prints lines/s and MB/s. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: copy_lines IN OUT\n");
        return 1;
    }
    FILE *in = fopen(argv[1], "r"), *out = fopen(argv[2], "w");
    if (!in || !out) {
        perror("copy_lines");
        return 1;
    }
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    char *line = NULL;
    size_t cap = 0, lines = 0, bytes = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        fwrite(line, 1, (size_t)n, out);
        lines++;
        bytes += (size_t)n;
    }
    fclose(out);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("copy_lines lines=%zu seconds=%.3f lines_per_s=%.0f mb_per_s=%.1f\n", lines, s,
           (double)lines / s, (double)bytes / s / 1e6);
    free(line);
    fclose(in);
    return 0;
}
