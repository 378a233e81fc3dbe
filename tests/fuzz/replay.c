/* Runs a fuzz target without libFuzzer, linked with it and mpi_stub.c by any C compiler (how:
   tests/fuzz/README): every file named, and every file in a folder named, is one input, given
   to the target once, in the order named (a folder's files by name). Prints how many inputs
   ran; a crash or an abort of the target ends it, as under libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input file to the target; 0 when it cannot be read. */
static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t n = 0, cap = 0, got;
    if (!f) return 0;
    do {
        if (n == cap && !(data = realloc(data, cap = cap * 2 + 4096))) abort();
        got = fread(data + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 1;
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file in a folder, by name; the number replayed. */
static int replay_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL, path[4096];
    int n = 0, cap = 0, i, done = 0;
    struct stat st;
    if (!d) return 0;
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (n == cap && !(names = realloc(names, sizeof *names * (size_t)(cap = cap * 2 + 64)))) abort();
        if (!(names[n++] = strdup(path))) abort();
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (i = 0; i < n; i++) {
        done += replay_file(names[i]);
        free(names[i]);
    }
    free(names);
    return done;
}

int main(int argc, char **argv) {
    int i, n = 0;
    struct stat st;
    LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) n += replay_dir(argv[i]);
        else if (replay_file(argv[i])) n++;
        else fprintf(stderr, "replay: cannot read %s\n", argv[i]);
    }
    printf("replay: %d inputs\n", n);
    return 0;
}
