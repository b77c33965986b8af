/* fuzz_cfg.c: libFuzzer target for Darknet's cfg reader and network builder with the DSN
 * sections: the input is a cfg's bytes; it is parsed with parse_network_cfg (darknet_patch/0024's
 * reader, the built-in layers' checks of 0025, the DSN layers' option parsing, a [distill_kl]
 * teacher loaded from any path the input names), the network is built and freed.
 *
 * A cfg that is refused is the expected outcome for most inputs: Darknet's fatal errors end in
 * darknet_fatal(), whose hook longjmps back here instead of exiting (this build only), and the
 * allocation registry of fuzz_alloc.h frees whatever the abandoned parse held. Any crash, sanitizer
 * report or leak is a finding. Only the section types of a classifier cfg are built (others are
 * skipped, not fed to Darknet): [yolo], [lstm] and the rest are not this project's surface.
 * The process works in a directory of its own holding a small teacher (teacher.cfg, teacher.weights:
 * 8x8x1 -> [connected] 4 -> [softmax]) that the seeds' students name, so whole students build. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "darknet.h"
#include "distill_kl_layer.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
void fz_release_all(void);

static jmp_buf on_fatal;
static int memfd = -1;
static char cfg_path[64];

static void fatal_hook(void)
{
    longjmp(on_fatal, 1);
}

static const char *const allowed[] = {
    "[net]", "[network]", "[serial_stamp]", "[gradient_reversal]", "[distill_kl]", "[masked_softmax]",
    "[convolutional]", "[conv]", "[connected]", "[conn]", "[maxpool]", "[max]", "[avgpool]", "[avg]",
    "[dropout]", "[route]", "[softmax]", "[soft]", "[batchnorm]", "[cost]",
};

/* 1 when every line that starts a section (after Darknet's white-space strip) names an allowed type */
static int sections_allowed(const char *text, size_t n)
{
    char line[256];
    size_t k = 0;
    int skip = 0;
    for(size_t i = 0; i <= n; ++i) {
        char c = i < n ? text[i] : '\n';
        if(c == '\n') {
            line[k] = '\0';
            if(!skip && line[0] == '[') {
                int ok = 0;
                for(size_t a = 0; a < sizeof allowed / sizeof allowed[0]; ++a) ok |= strcmp(line, allowed[a]) == 0;
                if(!ok) return 0;
            }
            if(skip && line[0] == '[') return 0;
            k = 0;
            skip = 0;
        } else if(c != ' ' && c != '\t' && c != '\n') {
            if(k + 1 < sizeof line) line[k++] = c;
            else skip = 1;
        }
    }
    return 1;
}

/* libFuzzer reads its corpus directories and writes its artifacts after this initialisation,
 * which moves to a directory of its own: their paths become absolute first. */
static void absolute_paths(int argc, char **argv)
{
    static const char *const path_flags[] = {"-artifact_prefix=", "-exact_artifact_path=", "-dict="};
    for(int i = 1; i < argc; ++i) {
        const char *a = argv[i], *prefix = "";
        char cwd[4096], *out;
        for(size_t f = 0; f < sizeof path_flags / sizeof path_flags[0]; ++f)
            if(strncmp(a, path_flags[f], strlen(path_flags[f])) == 0) prefix = path_flags[f];
        if(a[0] == '-' && !*prefix) continue;
        const char *path = a + strlen(prefix);
        if(path[0] == '/' || !getcwd(cwd, sizeof cwd)) continue;
        size_t n = strlen(prefix) + strlen(cwd) + strlen(path) + 2;
        if(!(out = malloc(n))) abort();
        snprintf(out, n, "%s%s/%s", prefix, cwd, path);
        argv[i] = out;   /* kept for the whole run */
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    absolute_paths(*argc, *argv);
    char dir[] = "/tmp/fuzz_cfg-XXXXXX";
    if(!mkdtemp(dir) || chdir(dir) != 0) abort();
    memfd = memfd_create("fuzz.cfg", 0);
    if(memfd < 0) abort();
    snprintf(cfg_path, sizeof cfg_path, "/proc/self/fd/%d", memfd);
    darknet_plugins_init();
    unsetenv("DSN_SERIAL");   /* the input's serial= is the only serial */
    FILE *f = fopen("teacher.cfg", "w");
    if(!f) abort();
    fputs("[net]\nbatch=1\nheight=8\nwidth=8\nchannels=1\n[connected]\noutput=4\nactivation=linear\n"
          "[softmax]\ngroups=1\n", f);
    fclose(f);
    network *t = parse_network_cfg("teacher.cfg");
    save_weights(t, "teacher.weights");
    free_network(t);
    fz_release_all();
    darknet_fatal_hook = fatal_hook;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if(size > 8192 || !sections_allowed((const char *)data, size)) return 0;
    if(ftruncate(memfd, 0) != 0 || pwrite(memfd, data, size, 0) != (ssize_t)size) abort();
    if(setjmp(on_fatal) == 0) {
        network *net = parse_network_cfg(cfg_path);
        free_network(net);
    }
    distill_kl_reset_nesting();
    fz_release_all();
    return 0;
}
