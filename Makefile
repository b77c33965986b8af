# DSN for Darknet.
#
#   make                 build/darknet, build/libdarknet.{a,so} (DSN layers inside), build/dsn
#   make test            CMocka suites (make test SANITIZE=1: the same under ASan + UBSan)
#   make demo            the main job: MNIST end to end, report in report/ (DATA=fashion too)
#   make GPU=1 [CUDNN=1] CUDA build in build/gpu (compiles here; runs where a GPU is)
#   make bench           images/s of training, inference and stamping against stock Darknet
#                        (bench/run.sh; ROUNDS=3 SECS=2 QUICK=1; PEERS=1 adds PyTorch, installing
#                        python3-torch); results in bench/results/
#   make stock           stock Darknet, only the build fixes applied, in build/stock (or STOCK=1)
#   make deps            install every build and test dependency (Debian packages)
#   make clean | distclean
#   OPENMP=0 builds without OpenMP; CPU_ARCH= (empty) for binaries that must run on another CPU.
#   V=1 shows the commands.
#
# Darknet itself is never committed: darknet_patch/fetch.sh fetches the pinned Debian source
# package, checks it and applies darknet_patch/*.patch into build/darknet-src; this Makefile
# compiles that tree together with layers/ (our layer types) into one libdarknet.

GPU      ?= 0
CUDNN    ?= 0
OPENCV   ?= 1
OPENBLAS ?= 1
OPENMP   ?= 1
SANITIZE ?= 0
STOCK    ?= 0
# Darknet's sources only (our code keeps the default target): AVX-512 here, 1.6x over SSE2 in the
# CPU performance study. ARCH is the CUDA list below.
CPU_ARCH ?= -march=native
V        ?= 0

ifeq ($(SANITIZE),1)
BUILD ?= build/san
else ifeq ($(GPU),1)
BUILD ?= build/gpu
else
BUILD ?= build
endif

Q := $(if $(filter 1,$(V)),,@)
say = $(if $(filter 1,$(V)),,@printf '  %-7s %s\n' $(1) $(2);)

DKSRC   := build/darknet-src
DKSTAMP := $(DKSRC)/.dsn-patched
NVCC    ?= /usr/local/cuda/bin/nvcc
# CUDA 13 builds compute_75 and newer only; sm_90 with PTX covers Hopper and later.
ARCH    ?= -gencode arch=compute_75,code=sm_75 -gencode arch=compute_80,code=sm_80 \
           -gencode arch=compute_86,code=sm_86 -gencode arch=compute_90,code=[sm_90,compute_90]

CC  := gcc
CXX := g++

DK_OBJ := gemm utils cuda deconvolutional_layer convolutional_layer list image activations \
          im2col col2im blas crop_layer dropout_layer maxpool_layer softmax_layer data matrix \
          network connected_layer cost_layer parser option_list detection_layer route_layer \
          upsample_layer box normalization_layer avgpool_layer layer local_layer shortcut_layer \
          logistic_layer activation_layer rnn_layer gru_layer crnn_layer demo batchnorm_layer \
          region_layer reorg_layer tree lstm_layer l2norm_layer yolo_layer iseg_layer
DK_CU  := convolutional_kernels deconvolutional_kernels activation_kernels im2col_kernels \
          col2im_kernels blas_kernels crop_layer_kernels dropout_layer_kernels \
          maxpool_layer_kernels avgpool_layer_kernels
DK_EXE := captcha lsd super art tag cifar go rnn segmenter regressor classifier coco yolo \
          detector nightmare instance-segmenter darknet

LAYER_SRC := $(wildcard layers/*.c)
LAYER_CU  := $(wildcard layers/*.cu)
CLI_SRC   := $(filter-out dsn_cli/main.c dsn_cli/opencv_lazy.c,$(wildcard dsn_cli/*.c))
CLI_CXX   := $(wildcard dsn_cli/*.cpp)
TEST_SRC  := $(wildcard tests/test_*.c)

# ---- flags -------------------------------------------------------------------------------
DEFS := $(if $(filter 1,$(OPENBLAS)),-DOPENBLAS) $(if $(filter 1,$(OPENCV)),-DOPENCV) \
        $(if $(filter 1,$(GPU)),-DGPU -I/usr/local/cuda/include) $(if $(filter 1,$(CUDNN)),-DCUDNN)
OPT  := -Ofast
OMP  := $(if $(filter 1,$(OPENMP)),-fopenmp)
SAN  :=
ifeq ($(SANITIZE),1)
OPT  := -O1 -g -fno-omit-frame-pointer
SAN  := -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
# Darknet's own sources: its flags (-Ofast keeps fast-math vectorisation and no semantic
# interposition: 2.2x faster than -O3 -fPIC, see the CPU performance study), its warnings off.
DK_CFLAGS  := $(OPT) $(CPU_ARCH) $(OMP) $(SAN) -fPIC -w -I$(DKSRC)/include -I$(DKSRC)/src $(DEFS) -MMD -MP
# Ours: C11, every warning, no warning left. Darknet's headers are system headers for us.
# -fno-finite-math-only: -Ofast's finite-math assumption folds NaN tests away, and our option and
# output checks must refuse NaN in the release build as in the sanitizer build.
OUR_CFLAGS := -std=c11 -D_DEFAULT_SOURCE $(OPT) -fno-finite-math-only $(OMP) $(SAN) -fPIC -Wall -Wextra -Werror \
              -isystem $(DKSRC)/include -isystem $(DKSRC)/src -Ilayers -Idsn_cli -Ibench $(DEFS) -MMD -MP
# dsn_cli/*.cpp (the OpenCV side of dsn demo): the same strictness in C++; OpenCV's headers as system headers
OUR_CXXFLAGS := -std=c++11 $(OPT) $(SAN) -fPIC -Wall -Wextra -Werror -Idsn_cli $(DEFS) -MMD -MP
# Read when the recipe runs, not when make reads this file: the first `make` on a bare machine
# installs libopencv-dev (check-deps) after parsing, so a parse-time pkg-config finds nothing.
OPENCV_CFLAGS = $$(pkg-config --cflags opencv4)
OPENCV_SYSINC = $$(pkg-config --cflags-only-I opencv4 | sed 's/-I/-isystem /g')
OPENCV_LIBS   := -lopencv_videoio -lopencv_highgui -lopencv_imgcodecs -lopencv_imgproc -lopencv_core
LDLIBS := $(SAN) $(OMP) $(if $(filter 1,$(OPENBLAS)),-lopenblas) $(if $(filter 1,$(OPENCV)),$(OPENCV_LIBS)) \
          $(if $(filter 1,$(GPU)),-L/usr/local/cuda/lib64 -lcudart -lcublas -lcurand) \
          $(if $(filter 1,$(CUDNN)),-lcudnn) -lcrypto -lstdc++ -lm -pthread
# darknet and dsn load OpenCV on first use (dsn_cli/opencv_lazy.c) from libdsn_opencv.so beside
# them: its ~250 libraries cost every process 0.25 s at start. They export their symbols
# (-rdynamic) for the library's calls back into Darknet (make_image, darknet_fatal, ...).
CV_LAZY := $(if $(filter 1,$(OPENCV)),$(BUILD)/obj/cli/opencv_lazy.o)
CV_LIB  := $(if $(filter 1,$(OPENCV)),$(BUILD)/libdsn_opencv.so)
EXE_LDLIBS := $(filter-out $(OPENCV_LIBS),$(LDLIBS)) $(if $(filter 1,$(OPENCV)),-rdynamic)

DK_OBJS := $(addprefix $(BUILD)/obj/dk/,$(addsuffix .o,$(DK_OBJ))) \
           $(if $(filter 1,$(OPENCV)),$(BUILD)/obj/dk/image_opencv.o) \
           $(if $(filter 1,$(GPU)),$(addprefix $(BUILD)/obj/dk/,$(addsuffix .o,$(DK_CU))))
LAYER_OBJS := $(patsubst layers/%.c,$(BUILD)/obj/layers/%.o,$(LAYER_SRC)) \
              $(if $(filter 1,$(GPU)),$(patsubst layers/%.cu,$(BUILD)/obj/layers/%.cu.o,$(LAYER_CU)))
EXE_OBJS := $(addprefix $(BUILD)/obj/dk/,$(addsuffix .o,$(DK_EXE)))
CLI_OBJS := $(patsubst dsn_cli/%.c,$(BUILD)/obj/cli/%.o,$(CLI_SRC)) $(patsubst dsn_cli/%.cpp,$(BUILD)/obj/cli/%.o,$(CLI_CXX))
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
GLYPHS   := $(BUILD)/data/labels/.installed

.PHONY: all test demo deps check-deps clean distclean fetch fuzz stock bench
.DEFAULT_GOAL := $(if $(filter 1,$(STOCK)),stock,all)
.SECONDARY:

all: $(BUILD)/darknet $(BUILD)/libdarknet.a $(BUILD)/libdarknet.so $(BUILD)/dsn $(GLYPHS) | check-deps

# ---- dependencies ------------------------------------------------------------------------
DEB_BUILD := gcc g++ make dpkg-dev patch pkg-config libopencv-dev libssl-dev libcmocka-dev \
             libopenblas-dev clang libclang-rt-14-dev xz-utils ca-certificates openssl gzip tar libjansson-dev \
             libicu-dev strace
DEB_DATA  := dataset-fashion-mnist
# what only the tests need: Xvfb, the display of the demo tests (tests/test_demo.c); the single-node
# Slurm cluster tests/test_fleet.c starts
DEB_TEST  := xvfb slurm-wlm munge
DEB_ALL   := $(DEB_BUILD) $(DEB_DATA) $(DEB_TEST)
# Installs what is missing when run as root; otherwise names the exact command to run.
define ensure_debs
missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done; \
          command -v npm >/dev/null || echo npm); \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "  DEPS    installing:" $$missing; \
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing) >build/deps.log 2>&1 \
      || { tail -20 build/deps.log; echo "make: installing $$missing failed (log: build/deps.log)"; exit 1; }; \
  else \
    echo "make: missing Debian packages: $$missing"; \
    echo "      run: sudo apt-get update && sudo apt-get install -y --no-install-recommends $$missing"; exit 1; \
  fi; \
fi
endef
deps:
	@mkdir -p build; $(call ensure_debs,$(DEB_ALL))
check-deps:
	@mkdir -p build; $(call ensure_debs,$(DEB_BUILD))

# ---- Darknet source ----------------------------------------------------------------------
fetch: $(DKSTAMP)
# flock: the stock tree unpacks from the same download and logs into the same build/apt/
$(DKSTAMP): darknet_patch/fetch.sh darknet_patch/SHA256SUMS $(wildcard darknet_patch/*.patch) | check-deps
	$(Q)flock build/.fetch.lock darknet_patch/fetch.sh $(DKSRC)
$(DKSRC)/src/% $(DKSRC)/examples/% $(DKSRC)/include/%: | $(DKSTAMP) ;

# ---- compile -----------------------------------------------------------------------------
# static pattern rules: which folder a source comes from is fixed per object, never guessed
$(addprefix $(BUILD)/obj/dk/,$(addsuffix .o,$(DK_OBJ))): $(BUILD)/obj/dk/%.o: $(DKSRC)/src/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(DK_CFLAGS) -c $< -o $@
$(EXE_OBJS): $(BUILD)/obj/dk/%.o: $(DKSRC)/examples/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(DK_CFLAGS) -c $< -o $@
$(BUILD)/obj/dk/image_opencv.o: $(DKSRC)/src/image_opencv.cpp $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CXX,$<)$(CXX) -std=c++11 $(DK_CFLAGS) $(OPENCV_CFLAGS) -c $< -o $@
$(addprefix $(BUILD)/obj/dk/,$(addsuffix .o,$(DK_CU))): $(BUILD)/obj/dk/%.o: $(DKSRC)/src/%.cu $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,NVCC,$<)$(NVCC) $(ARCH) -I$(DKSRC)/include -I$(DKSRC)/src $(DEFS) -O3 \
	    --compiler-options "-fPIC -w" -c $< -o $@
$(BUILD)/obj/layers/%.o: layers/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(OUR_CFLAGS) -c $< -o $@
$(BUILD)/obj/layers/%.cu.o: layers/%.cu $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,NVCC,$<)$(NVCC) $(ARCH) -I$(DKSRC)/include -I$(DKSRC)/src -Ilayers $(DEFS) -O3 \
	    --compiler-options "-fPIC -Wall -Wextra" -c $< -o $@
$(BUILD)/obj/cli/%.o: dsn_cli/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(OUR_CFLAGS) -c $< -o $@
$(BUILD)/obj/cli/%.o: dsn_cli/%.cpp $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CXX,$<)$(CXX) $(OUR_CXXFLAGS) $(if $(filter 1,$(OPENCV)),$(OPENCV_SYSINC)) -c $< -o $@
$(BUILD)/obj/tests/%.o: tests/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(OUR_CFLAGS) -Itests -c $< -o $@

# Darknet's label glyphs beside the binary, where load_alphabet looks first (darknet_patch/0031)
$(GLYPHS): $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,GLYPHS,$(@D))cp $(DKSRC)/data/labels/*.png $(@D)/ && touch $@

# ---- link --------------------------------------------------------------------------------
$(BUILD)/libdarknet.a: $(DK_OBJS) $(LAYER_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(BUILD)/libdarknet.so: $(DK_OBJS) $(LAYER_OBJS)
	$(call say,LD,$@)$(CC) -shared $^ -o $@ $(LDLIBS)
$(BUILD)/darknet: $(EXE_OBJS) $(CV_LAZY) $(BUILD)/libdarknet.a | $(CV_LIB)
	$(call say,LD,$@)$(CC) $(EXE_OBJS) $(CV_LAZY) $(BUILD)/libdarknet.a -o $@ $(EXE_LDLIBS)
$(BUILD)/libdsncli.a: $(CLI_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(BUILD)/dsn: $(BUILD)/obj/cli/main.o $(CV_LAZY) $(BUILD)/libdsncli.a $(BUILD)/libdarknet.a | $(CV_LIB)
	$(call say,LD,$@)$(CC) $^ -o $@ -lcrypto -ljansson -licuuc $(EXE_LDLIBS)
# the OpenCV side of both (opencv_lazy.c stands in for it); its own calls stay inside (-Bsymbolic)
$(BUILD)/libdsn_opencv.so: $(BUILD)/obj/dk/image_opencv.o $(BUILD)/obj/cli/dsn_video.o
	$(call say,LD,$@)$(CXX) -shared -Wl,-Bsymbolic $^ -o $@ $(SAN) $(OPENCV_LIBS)
$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(BUILD)/obj/tests/dsn_test.o $(BUILD)/libdsncli.a $(BUILD)/libdarknet.a
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $^ -o $@ -lcmocka -lcrypto -ljansson -licuuc $(LDLIBS)

$(BUILD)/layer_check: $(BUILD)/obj/tests/gpu/layer_check.o $(BUILD)/libdarknet.a
	$(call say,LD,$@)$(CC) $^ -o $@ $(LDLIBS)
$(BUILD)/obj/tests/gpu/%.o: tests/gpu/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(OUR_CFLAGS) -c $< -o $@

# ---- stock Darknet: the baseline of make bench and of the numerics test -------------------
# As shipped: only 0001 (build fixes) applied, its -Ofast, the naive gemm (no OpenBLAS), no
# OpenMP, no OpenCV, no -march, and no layers/ (the stock tree has no plugin registry).
STOCK_PATCHES := 0001-build-fixes.patch
STOCK_SRC     := build/darknet-stock
STOCK_STAMP   := $(STOCK_SRC)/.dsn-patched
STOCK_DIR     := build/stock
STOCK_DKFLAGS := -Ofast -fPIC -w -I$(STOCK_SRC)/include -I$(STOCK_SRC)/src -MMD -MP
STOCK_CFLAGS  := -std=c11 -D_DEFAULT_SOURCE -Ofast -Wall -Wextra -Werror -DDSN_STOCK \
                 -isystem $(STOCK_SRC)/include -isystem $(STOCK_SRC)/src -Ibench -MMD -MP
STOCK_OBJS    := $(addprefix $(STOCK_DIR)/obj/dk/,$(addsuffix .o,$(DK_OBJ)))
STOCK_EXE_OBJS := $(addprefix $(STOCK_DIR)/obj/dk/,$(addsuffix .o,$(DK_EXE)))

stock: $(STOCK_DIR)/darknet $(STOCK_DIR)/libdarknet.a
$(STOCK_STAMP): darknet_patch/fetch.sh darknet_patch/SHA256SUMS darknet_patch/$(STOCK_PATCHES) | check-deps
	$(Q)flock build/.fetch.lock env DSN_PATCHES='$(STOCK_PATCHES)' darknet_patch/fetch.sh $(STOCK_SRC)
$(STOCK_SRC)/src/% $(STOCK_SRC)/examples/% $(STOCK_SRC)/include/%: | $(STOCK_STAMP) ;
$(STOCK_OBJS): $(STOCK_DIR)/obj/dk/%.o: $(STOCK_SRC)/src/%.c $(STOCK_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(STOCK_DKFLAGS) -c $< -o $@
$(STOCK_EXE_OBJS): $(STOCK_DIR)/obj/dk/%.o: $(STOCK_SRC)/examples/%.c $(STOCK_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(STOCK_DKFLAGS) -c $< -o $@
$(STOCK_DIR)/obj/bench/%.o: bench/%.c $(STOCK_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(STOCK_CFLAGS) -c $< -o $@
$(STOCK_DIR)/obj/tests/%.o: tests/%.c $(STOCK_STAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(STOCK_CFLAGS) -c $< -o $@
$(STOCK_DIR)/libdarknet.a: $(STOCK_OBJS)
	$(call say,AR,$@)rm -f $@ && ar rcs $@ $^
$(STOCK_DIR)/darknet: $(STOCK_EXE_OBJS) $(STOCK_DIR)/libdarknet.a
	$(call say,LD,$@)$(CC) $^ -o $@ -lm -pthread

# ---- make bench (bench/run.sh): the same driver against this build and against stock ------
# OpenBLAS is linked into both for the sgemm ceiling only; stock Darknet's gemm never calls it.
$(BUILD)/obj/bench/%.o: bench/%.c $(DKSTAMP)
	@mkdir -p $(@D)
	$(call say,CC,$<)$(CC) $(OUR_CFLAGS) -c $< -o $@
$(BUILD)/bench: $(BUILD)/obj/bench/bench.o $(BUILD)/obj/bench/bench_util.o $(BUILD)/libdarknet.a
	$(call say,LD,$@)$(CC) $^ -o $@ $(filter-out -lopenblas,$(LDLIBS)) -lopenblas
$(STOCK_DIR)/bench: $(STOCK_DIR)/obj/bench/bench.o $(STOCK_DIR)/obj/bench/bench_util.o $(STOCK_DIR)/libdarknet.a
	$(call say,LD,$@)$(CC) $^ -o $@ -lopenblas -lm -pthread
ROUNDS ?=
SECS   ?=
QUICK  ?=
PEERS  ?= 0
bench: $(BUILD)/bench $(STOCK_DIR)/bench
	$(if $(filter 1,$(PEERS)),@$(call ensure_debs,python3-torch))
	@BUILD='$(BUILD)' STOCK_DIR='$(STOCK_DIR)' ROUNDS='$(ROUNDS)' SECS='$(SECS)' QUICK='$(QUICK)' PEERS='$(PEERS)' bench/run.sh

# ---- numerics: this build against stock, 10 training steps (tests/test_numerics.c) ---------
$(BUILD)/tests/numerics_probe: $(BUILD)/obj/tests/numerics_probe.o $(BUILD)/obj/bench/bench_util.o $(BUILD)/libdarknet.a
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $^ -o $@ $(LDLIBS)
$(STOCK_DIR)/tests/numerics_probe: $(STOCK_DIR)/obj/tests/numerics_probe.o $(STOCK_DIR)/obj/bench/bench_util.o $(STOCK_DIR)/libdarknet.a
	@mkdir -p $(@D)
	$(call say,LD,$@)$(CC) $^ -o $@ -lm -pthread
PROBES := $(BUILD)/tests/numerics_probe $(STOCK_DIR)/tests/numerics_probe

# ---- test and demo ------------------------------------------------------------------------
test: all $(TESTS) $(PROBES)
	@$(call ensure_debs,$(DEB_TEST))
	@tests/run.sh $(BUILD) $(TESTS)

# ---- the main job --------------------------------------------------------------------------
# make demo [DATA=mnist|fashion] [SEEDS="0 1 2"] [CUSTOMERS="alice bob"] [TEACHER_BATCHES=N STUDENT_BATCHES=N]
#           [PARALLEL=0|1: the students side by side, one core each (default with 2+ customers)]
#           [VARIANTS="bits9 bits9_grl noswap"] [EVAL_OPTS="..."] [CANDIDATES=N: training runs per customer]
# Per seed: train the teacher, issue one serial per customer, train CANDIDATES students per
# customer and keep the one whose lock holds best (dsn select), export it, evaluate each customer model (with the other customers' serials as the cross matrix); then
# aggregate everything into report/. Runs live in build/demo/DATA/seedS/ (logs, weights).
DATA      ?= mnist
SEEDS     ?= 0
CUSTOMERS ?= alice bob
DEMO_DIR  ?= build/demo/$(DATA)
REPORT    ?= report
# the issue's counts (1,000 forged serials, 200 at distances 2 and 4) on 250 images each
EVAL_OPTS ?= --forged 1000 --near2 200 --near4 200 --images-per-serial 250
VARIANTS  ?=
CANDIDATES ?= 2
demo: all $(BUILD)/bench
	@$(call ensure_debs,gnuplot-nox $(if $(filter fashion,$(DATA)),dataset-fashion-mnist))
	@DATA='$(DATA)' SEEDS='$(SEEDS)' CUSTOMERS='$(CUSTOMERS)' DEMO_DIR='$(DEMO_DIR)' REPORT='$(REPORT)' \
	  TEACHER_BATCHES='$(TEACHER_BATCHES)' STUDENT_BATCHES='$(STUDENT_BATCHES)' EVAL_OPTS='$(EVAL_OPTS)' \
	  VARIANTS='$(VARIANTS)' PARALLEL='$(PARALLEL)' CANDIDATES='$(CANDIDATES)' BUILD='$(BUILD)' bash cfg/demo.sh

include $(wildcard tests/fuzz/fuzz.mk)
include $(wildcard mk/*.mk)

clean:
	rm -rf build/obj build/san build/gpu build/stock build/tests build/*.a build/*.so build/darknet \
	    build/dsn build/bench
distclean:
	rm -rf build data report backup bench/results

-include $(shell find $(BUILD)/obj $(STOCK_DIR)/obj -name '*.d' 2>/dev/null)
