# make attacks: the robustness study of issue #10 (dsn attack, dsn verify, dsn trace) on the demo's
# customer models; report/attacks.md, report/attacks.json and the PNG curves in report/.
# Included by the Makefile (include $(wildcard mk/*.mk)).
#
#   make attacks [ATTACK_DATA=mnist] [ATTACK_SEEDS="0 1 2 3 4"] [ATTACK_OPTS="..."] [ATTACK_FRESH=1]
#
# Runs make demo first when its customer models are missing. cfg/attacks.sh says what it runs.

# dsn verify/trace/attack write JSON with libjansson
DEB_BUILD += libjansson-dev
DEB_ALL   += libjansson-dev
LDLIBS    += -ljansson

ATTACK_DATA  ?= mnist
ATTACK_SEEDS ?= 0 1 2 3 4
ATTACK_OPTS  ?=
ATTACK_FRESH ?= 0
ATTACK_DIR   ?= build/attacks/$(ATTACK_DATA)

.PHONY: attacks
attacks: all
	@$(call ensure_debs,gnuplot-nox)
	@if [ ! -f build/demo/$(ATTACK_DATA)/seed0/customer_alice/$(ATTACK_DATA)_customer.weights ]; then \
	    echo "attacks: no demo models in build/demo/$(ATTACK_DATA): running make demo first"; \
	    $(MAKE) --no-print-directory demo DATA=$(ATTACK_DATA); fi
	@DATA='$(ATTACK_DATA)' SEEDS='$(ATTACK_SEEDS)' OPTS='$(ATTACK_OPTS)' FRESH='$(ATTACK_FRESH)' RUN='$(ATTACK_DIR)' REPORT='$(REPORT)' \
	  BUILD='$(BUILD)' bash cfg/attacks.sh
