# tests/fuzz/fuzz.mk: libFuzzer targets for the parsers of untrusted text, included by the top
# Makefile.
#
#   make fuzz [FUZZ_SECONDS=60]
#
# builds build/fuzz/fuzz_cert (dsn_cert_parse), build/fuzz/fuzz_serial (dsn_serial_decode) and
# build/fuzz/fuzz_cfg (Darknet's cfg reader and network builder with the DSN sections: parse a cfg
# from bytes, build the network, free it; tests/fuzz/fuzz_cfg.c says how fatal errors return) with
# clang -fsanitize=fuzzer,address,undefined and runs each for FUZZ_SECONDS seconds from the seeds in
# tests/fuzz/corpus/<name>/ (the grown corpus stays in build/fuzz/corpus/<name>/). Any crash, leak,
# sanitizer report or broken property fails the target; the reproducer is build/fuzz/crash-<name>-*,
# replayed with build/fuzz/fuzz_<name> FILE. Needs clang and libclang-rt-14-dev (Debian 12).

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
FUZZ_NAMES   := cert serial cfg
FUZZ_CFLAGS  := -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
                -Wall -Wextra -Werror -Ilayers -Idsn_cli

FUZZ_CERT_SRC   := tests/fuzz/fuzz_cert.c dsn_cli/dsn_cert.c dsn_cli/dsn_crypto.c \
                   layers/dsn_serial.c layers/dsn_stamp.c
FUZZ_SERIAL_SRC := tests/fuzz/fuzz_serial.c layers/dsn_serial.c
FUZZ_HEADERS    := dsn_cli/dsn_cert.h dsn_cli/dsn_crypto.h layers/dsn_serial.h layers/dsn_stamp.h

$(FUZZ_DIR)/fuzz_cert: $(FUZZ_CERT_SRC) $(FUZZ_HEADERS) tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	@printf '  %-7s %s\n' FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_CERT_SRC) -o $@ -lcrypto -licuuc

$(FUZZ_DIR)/fuzz_serial: $(FUZZ_SERIAL_SRC) $(FUZZ_HEADERS) tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	@printf '  %-7s %s\n' FUZZCC $@
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_SERIAL_SRC) -o $@

# fuzz_cfg: the patched Darknet tree and layers/ rebuilt with the sanitizers and fuzz_alloc.h
# forced in (their allocations freed after a refused parse), no OpenBLAS, OpenMP, OpenCV or GPU.
FUZZ_DK_SRC  := $(filter-out image_opencv,$(DK_OBJ))
FUZZ_DK_OBJS := $(addprefix $(FUZZ_DIR)/obj/dk/,$(addsuffix .o,$(FUZZ_DK_SRC))) \
                $(patsubst layers/%.c,$(FUZZ_DIR)/obj/layers/%.o,$(LAYER_SRC))
FUZZ_DK_CFLAGS := -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
                  -fno-sanitize-recover=undefined -w -include tests/fuzz/fuzz_alloc.h \
                  -I$(DKSRC)/include -I$(DKSRC)/src -Ilayers
$(FUZZ_DIR)/obj/dk/%.o: $(DKSRC)/src/%.c $(DKSTAMP) tests/fuzz/fuzz_alloc.h tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_DK_CFLAGS) -c $< -o $@
$(FUZZ_DIR)/obj/layers/%.o: layers/%.c $(DKSTAMP) tests/fuzz/fuzz_alloc.h tests/fuzz/fuzz.mk
	@mkdir -p $(@D)
	$(call say,FUZZCC,$<)$(FUZZ_CC) $(FUZZ_DK_CFLAGS) -c $< -o $@
$(FUZZ_DIR)/fuzz_cfg: tests/fuzz/fuzz_cfg.c tests/fuzz/fuzz_alloc.c $(FUZZ_DK_OBJS)
	@mkdir -p $(@D)
	@printf '  %-7s %s\n' FUZZCC $@
	$(Q)$(FUZZ_CC) $(filter-out -std=c11 -D_POSIX_C_SOURCE=200809L,$(FUZZ_CFLAGS)) -std=gnu11 -D_GNU_SOURCE \
	    -I$(DKSRC)/include -I$(DKSRC)/src tests/fuzz/fuzz_cfg.c tests/fuzz/fuzz_alloc.c $(FUZZ_DK_OBJS) \
	    -o $@ -lm -pthread -lcrypto
# the target's own flags: stdout and stderr closed (Darknet prints its layer table for every
# parse; sanitizer reports still come through libFuzzer's copy of stderr)
FUZZ_FLAGS_cfg := -close_fd_mask=3 -max_len=8192

.PHONY: fuzz
fuzz: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))
	@for t in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	    printf '  %-7s %s for %s s\n' FUZZ $$t $(FUZZ_SECONDS); \
	    flags=; [ $$t = cfg ] && flags='$(FUZZ_FLAGS_cfg)'; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 $$flags \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	        $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_DIR)/$$t.log 2>&1 || { \
	        tail -n 40 $(FUZZ_DIR)/$$t.log; \
	        echo "make fuzz: fuzz_$$t failed (log $(FUZZ_DIR)/$$t.log, reproducer $(FUZZ_DIR)/crash-$$t-*)"; \
	        exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/$$t.log | tr '\n' ' '; echo; \
	done
