/* Prints UD_CONFIG_TABLE as the markdown table in README.md, so the README cannot drift from
   the header: tests/run.sh compares the two and `make readme` rewrites the README's copy. */
#include <stdio.h>

#include "unidist.h"

#define TABLE_TEXT(x) #x
#define TABLE_EXPAND(x) TABLE_TEXT(x)

/* Prints s with '|' escaped for markdown; unquote drops the quotes a string default carries. */
static void print_cell(const char *s, int unquote) {
    size_t n = 0;
    while (s[n]) n++;
    if (unquote && n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '|') putchar('\\');
        putchar(s[i]);
    }
}

static void print_row(const char *env, const char *def, const char *doc) {
    printf("| `%s` | `", env);
    print_cell(def, 1);
    printf("` | ");
    print_cell(doc, 0);
    printf(" |\n");
}

int main(void) {
    printf("| variable | default | meaning |\n");
    printf("|---|---|---|\n");
    /* The default goes through one more macro level so that UD_CPUS prints as its value. */
#define TABLE_ROW(kind, field, env, def, doc) print_row(env, TABLE_EXPAND(def), doc);
    UD_CONFIG_TABLE(TABLE_ROW)
#undef TABLE_ROW
    return 0;
}
