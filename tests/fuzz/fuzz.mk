# tests/fuzz/fuzz.mk: libFuzzer targets for the two parsers of untrusted text, included by the top
# Makefile.
#
#   make fuzz [FUZZ_SECONDS=60]
#
# builds build/fuzz/fuzz_cert (dsn_cert_parse) and build/fuzz/fuzz_serial (dsn_serial_decode) with
# clang -fsanitize=fuzzer,address,undefined and runs each for FUZZ_SECONDS seconds from the seeds in
# tests/fuzz/corpus/<name>/ (the grown corpus stays in build/fuzz/corpus/<name>/). Any crash, leak,
# sanitizer report or broken property fails the target; the reproducer is build/fuzz/crash-<name>-*,
# replayed with build/fuzz/fuzz_<name> FILE. Needs clang and libclang-rt-14-dev (Debian 12).

FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_DIR     := build/fuzz
FUZZ_NAMES   := cert serial
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

.PHONY: fuzz
fuzz: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))
	@for t in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	    printf '  %-7s %s for %s s\n' FUZZ $$t $(FUZZ_SECONDS); \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	        -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	        $(FUZZ_DIR)/corpus/$$t tests/fuzz/corpus/$$t >$(FUZZ_DIR)/$$t.log 2>&1 || { \
	        tail -n 40 $(FUZZ_DIR)/$$t.log; \
	        echo "make fuzz: fuzz_$$t failed (log $(FUZZ_DIR)/$$t.log, reproducer $(FUZZ_DIR)/crash-$$t-*)"; \
	        exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/$$t.log | tr '\n' ' '; echo; \
	done
