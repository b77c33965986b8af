# tests/gpu/device.mk: the top Makefile on a GPU machine that is not our Debian 12 and has no
# network (tests/gpu/device.sh runs `make -f tests/gpu/device.mk ...`). The libraries come
# unpacked through CPATH/LIBRARY_PATH instead of apt-get, and build/darknet-src comes along
# already patched: check-deps and the fetch do nothing here (make warns that their recipes are
# overridden).
include Makefile

check-deps: ; @:
$(DKSTAMP): ; @:
